# abuild-rs: helper functions every stage of an APKBUILD can use, defined before the
# APKBUILD is sourced so that its own definitions win. Written for apk-rs from the
# behaviour APKBUILD(5) documents.

# amove PATH...: moves paths (globs allowed) from $pkgdir into $subpkgdir, keeping
# their place in the tree.
amove() {
	if [ -z "$subpkgdir" ]; then
		echo "amove: only usable in a split function" >&2
		return 1
	fi
	(
		cd "$pkgdir" || exit 1
		for _pattern in "$@"; do
			_pattern=${_pattern#/}
			for _path in $_pattern; do
				if [ ! -e "$_path" ] && [ ! -L "$_path" ]; then
					continue
				fi
				_dir=$(dirname "$_path")
				mkdir -p "$subpkgdir/$_dir"
				mv "$_path" "$subpkgdir/$_dir/"
			done
		done
	)
}

want_check() {
	case " $options " in
	*" !check "*) return 1 ;;
	esac
	return 0
}

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

default_dev() {
	amove usr/include usr/lib/pkgconfig usr/share/pkgconfig usr/share/aclocal \
		usr/lib/cmake usr/share/cmake 'usr/lib/*.a' 'usr/lib/*.so' 'lib/*.so' \
		'usr/bin/*-config'
}
dev() { default_dev; }

default_doc() {
	amove usr/share/doc usr/share/man usr/share/info usr/share/gtk-doc usr/share/devhelp
}
doc() { default_doc; }

default_openrc() {
	amove etc/init.d etc/conf.d
}
openrc() { default_openrc; }
