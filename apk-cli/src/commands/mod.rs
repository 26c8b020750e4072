pub mod extract;
pub mod index;
pub mod manifest;
pub mod verify;
pub mod version;
