# abuild-rs: helper functions every stage of an APKBUILD can use, defined before the
# APKBUILD is sourced so that its own definitions win. Written for apk-rs from the
# behaviour APKBUILD(5) and abuild document; the default split functions set what
# abuild's set (depends, pkgdesc, install_if) and move the same paths.

# Messages, on standard error as abuild prints them (without colours).
msg() { printf '>>> %s: %s\n' "${subpkgname:-$pkgname}" "$1" >&2; }
msg2() { printf '    %s\n' "$1" >&2; }
warning() { printf '>>> WARNING: %s: %s\n' "${subpkgname:-$pkgname}" "$1" >&2; }
warning2() { printf '             %s\n' "$1" >&2; }
error() { printf '>>> ERROR: %s: %s\n' "${subpkgname:-$pkgname}" "$1" >&2; }
error2() { printf '           %s\n' "$1" >&2; }
die() { error "$@"; exit 1; }

# amove PATH...: moves paths from $pkgdir into $subpkgdir, keeping their place in the
# tree, and drops the folders left empty; fails when one of them is missing (the
# others still move), as abuild's amove.
amove() {
	if [ -z "$subpkgdir" ]; then
		echo "amove: only usable in a split function" >&2
		return 1
	fi
	(
		cd "$pkgdir" || exit 1
		_ret=0
		for _path in "$@"; do
			# no leading or trailing slashes
			while [ "${_path#/}" != "$_path" ]; do _path=${_path#/}; done
			while [ "${_path%/}" != "$_path" ]; do _path=${_path%/}; done
			if [ ! -e "$_path" ] && [ ! -L "$_path" ]; then
				_ret=1
				continue
			fi
			_dir=${_path%/*}
			[ "$_dir" = "$_path" ] && _dir=.
			mkdir -p "$subpkgdir/$_dir"
			mv "$_path" "$subpkgdir/$_dir/"
			rmdir -p "$_dir" 2>/dev/null || :
		done
		exit $_ret
	)
}

want_check() {
	case " $options " in
	*" !check "*) return 1 ;;
	esac
	return 0
}

# What check() does when the APKBUILD has none (and no !check): a warning.
default_check() {
	warning "the APKBUILD runs no tests"
	msg2 "add a check() function, or !check to options when there is no test suite"
}
check() { default_check; }

# Applies the patches listed in source, from builddir.
default_prepare() {
	cd "$builddir" 2>/dev/null || cd "$srcdir" || return 1
	for _src in $source; do
		_file=${_src%%::*}
		_file=${_file##*/}
		case "$_file" in
		*.patch) patch -p1 -i "$srcdir/$_file" || return 1 ;;
		*.patch.gz) gunzip -c "$srcdir/$_file" | patch -p1 || return 1 ;;
		*.patch.xz) xz -dc "$srcdir/$_file" | patch -p1 || return 1 ;;
		esac
	done
}
prepare() { default_prepare; }

# The release this build makes: name=version-rN.
_abuild_rs_self() { printf '%s=%s-r%s' "$1" "$pkgver" "$pkgrel"; }

default_dev() {
	depends="$depends_dev"
	pkgdesc="$pkgdesc (development files)"
	cd "$pkgdir" || return 1
	for _i in usr/include usr/lib/pkgconfig usr/share/pkgconfig usr/share/aclocal \
		usr/share/gettext 'usr/bin/*-config' usr/share/vala/vapi 'usr/share/gir-[0-9]*' \
		'usr/share/qt*/mkspecs' 'usr/lib/qt*/mkspecs' usr/lib/cmake usr/share/cmake \
		usr/lib/glade/modules usr/share/glade/catalogs 'lib/*.a' 'usr/lib/*.a' \
		'lib/*.so' 'usr/lib/*.so'; do
		for _p in $_i; do
			if [ -e "$_p" ] || [ -L "$_p" ]; then
				amove "$_p"
			fi
		done
	done
	return 0
}
dev() { default_dev; }

default_doc() {
	depends="$depends_doc"
	pkgdesc="$pkgdesc (documentation)"
	install_if="docs $(_abuild_rs_self "$pkgname")"
	for _i in doc man info html sgml licenses gtk-doc ri help; do
		amove usr/share/"$_i" || :
	done
	# Man pages compressed, as abuild does (links point at the compressed page).
	if [ -d "$subpkgdir"/usr/share/man ]; then
		find "$subpkgdir"/usr/share/man \( -type f -o -type l \) \
			\( -name '*.[0-9n]' -o -name '*.[0-9n][a-z]*' \) \
			! \( -name '*.gz' -o -name '*.bz2' -o -name '*.xz' \) | sort |
		while read -r _page; do
			if [ -L "$_page" ]; then
				ln -s "$(readlink "$_page")".gz "$_page".gz
				rm "$_page"
			else
				gzip -n -9 "$_page"
			fi
		done
	fi
	return 0
}
doc() { default_doc; }

default_openrc() {
	depends="$depends_openrc"
	pkgdesc="$pkgdesc (OpenRC init scripts)"
	install_if="openrc $(_abuild_rs_self "${subpkgname%-openrc}")"
	amove etc/conf.d etc/init.d etc/user/conf.d etc/user/init.d || :
}
openrc() { default_openrc; }

default_lang() {
	pkgdesc="Languages for package $pkgname"
	install_if="$(_abuild_rs_self "$pkgname") lang"
	depends="$depends_lang"
	amove ${langdir:-/usr/share/locale}
}
lang() { default_lang; }

default_libs() {
	depends="$depends_libs"
	pkgdesc="$pkgdesc (libraries)"
	cd "$pkgdir" || return 1
	amove lib/lib*.so.[0-9]* usr/lib/lib*.so.[0-9]* || :
}
libs() { default_libs; }

default_static() {
	if [ -z "$depends_static" ]; then
		_dev="${subpkgname%-libs-static}"
		_dev="${_dev%-static}-dev"
		case " $subpackages " in
		*" $_dev "* | *" $_dev:"*) depends_static="$_dev" ;;
		esac
	fi
	depends="$depends_static"
	pkgdesc="$pkgdesc (static library)"
	cd "$pkgdir" || return 1
	_libdirs=usr/lib
	[ -d lib/ ] && _libdirs="lib/ $_libdirs"
	# shellcheck disable=SC2046
	amove $(find $_libdirs -name '*.a' 2>/dev/null) || :
	return 0
}
static() { default_static; }

default_dbg() {
	depends=
	pkgdesc="$pkgdesc (debug symbols)"
	cd "$pkgdir" || return 1
	find . -type f | sort | while read -r _f; do
		case "$(head -c 4 "$_f" | od -An -c | tr -d ' ')" in
		*177ELF*) ;;
		*) continue ;;
		esac
		_dst="$subpkgdir/usr/lib/debug/${_f#./}.debug"
		mkdir -p "${_dst%/*}"
		${CROSS_COMPILE}objcopy --only-keep-debug "$_f" "$_dst" || continue
		${CROSS_COMPILE}objcopy --add-gnu-debuglink="$_dst" --strip-unneeded -R .comment "$_f" "$_f.dbg-tmp" &&
			cat "$_f.dbg-tmp" > "$_f"
		rm -f "$_f.dbg-tmp"
	done
	return 0
}
dbg() { default_dbg; }

default_systemd() {
	depends="$depends_systemd"
	pkgdesc="$pkgdesc (systemd files)"
	install_if="systemd $(_abuild_rs_self "${subpkgname%-systemd}")"
	amove usr/lib/systemd || :
}
systemd() { default_systemd; }

default_udev() {
	depends="$depends_udev"
	pkgdesc="$pkgdesc (udev rules)"
	install_if="udev $(_abuild_rs_self "${subpkgname%-udev}")"
	amove usr/lib/udev || :
}
udev() { default_udev; }

default_bashcomp() {
	depends=""
	pkgdesc="Bash completions for $pkgname"
	install_if="$(_abuild_rs_self "${subpkgname%-bash-completion}") bash-completion"
	amove usr/share/bash-completion/completions
}
bashcomp() { default_bashcomp; }

default_zshcomp() {
	depends=""
	pkgdesc="Zsh completions for $pkgname"
	install_if="$(_abuild_rs_self "${subpkgname%-zsh-completion}") zsh"
	amove usr/share/zsh/site-functions
}
zshcomp() { default_zshcomp; }

default_fishcomp() {
	depends=""
	pkgdesc="Fish completions for $pkgname"
	install_if="$(_abuild_rs_self "${subpkgname%-fish-completion}") fish"
	amove usr/share/fish/vendor_completions.d || :
	amove usr/share/fish/completions || :
	return 0
}
fishcomp() { default_fishcomp; }
