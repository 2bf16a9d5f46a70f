"""kwvk_build_backend - the PEP 517 build backend of the kwvk Python package (in the source
tree, so that `pip install .` needs nothing from a package index: pyproject.toml declares
`requires = []` and `backend-path` pointing here).

build_wheel configures CMake in a temporary directory, builds the shared library libkwvk and
the package's image helper libkwvk_pyimage (targets kwvk, kwvk_pyimage), and writes a wheel
holding the Python sources of [tool.kwvk_build] package-dir plus the two libraries. The wheel
carries native code but no CPython extension: it is tagged py3-none-<platform>.

Config settings (pip install --config-settings KEY=VALUE):
  cmake-build-dir=DIR   use (and bring up to date) an existing CMake build directory instead
                        of a temporary one (also $KWVK_CMAKE_BUILD_DIR)
  cmake-args=ARGS       extra arguments for the CMake configure step (space-separated)
"""
import base64
import hashlib
import io
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11: the tomli package, where installed
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

LIBS = ["libkwvk.so", "libkwvk_pyimage.so"]


def _pyproject():
    if tomllib is None:
        raise RuntimeError("kwvk's build backend needs Python >= 3.11 (tomllib) or the tomli package")
    with open("pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _project():
    cfg = _pyproject()
    proj = cfg["project"]
    pkg_dirs = cfg.get("tool", {}).get("kwvk_build", {}).get("package-dir", {})
    return proj, pkg_dirs


def _dist_name(proj):
    return proj["name"].replace("-", "_")


def _metadata(proj):
    lines = ["Metadata-Version: 2.1", f"Name: {proj['name']}", f"Version: {proj['version']}"]
    if proj.get("description"):
        lines.append(f"Summary: {proj['description']}")
    if proj.get("requires-python"):
        lines.append(f"Requires-Python: {proj['requires-python']}")
    for url_name, url in proj.get("urls", {}).items():
        lines.append(f"Project-URL: {url_name}, {url}")
    for dep in proj.get("dependencies", []):
        lines.append(f"Requires-Dist: {dep}")
    for extra, deps in proj.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for dep in deps:
            lines.append(f'Requires-Dist: {dep}; extra == "{extra}"')
    return "\n".join(lines) + "\n"


def _tag():
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"py3-none-{plat}"


def _setting(config_settings, key, env=None):
    v = (config_settings or {}).get(key)
    if v is None and env:
        v = os.environ.get(env)
    return v or None


def _log(msg):
    print(f"kwvk_build_backend: {msg}", file=sys.stderr, flush=True)


def _cmake_build(build_dir, extra_args):
    src = os.getcwd()
    cache = os.path.join(build_dir, "CMakeCache.txt")
    if not os.path.exists(cache) or extra_args:
        cmd = ["cmake", "-S", src, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release", "-DKWVK_BUILD_TESTS=OFF",
               "-DKWVK_BUILD_VIEWER=OFF", "-DKWVK_BUILD_JAVA=OFF", "-DKWVK_BUILD_TOOLS=ON",
               "-DKWVK_BUILD_PYTHON=ON",
               "-DKWVK_WERROR=OFF"] + extra_args
        if os.path.exists(cache):  # an existing build directory keeps its own settings
            cmd = ["cmake", "-S", src, "-B", build_dir, "-DKWVK_BUILD_PYTHON=ON"] + extra_args
        _log(" ".join(shlex.quote(c) for c in cmd))
        subprocess.run(cmd, check=True, stdout=sys.stderr)
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 2)
    cmd = ["cmake", "--build", build_dir, "--target", "kwvk", "kwvk_pyimage", "-j", jobs]
    _log(" ".join(cmd))
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    found = {}
    for name in LIBS:
        path = os.path.join(build_dir, name)
        if not os.path.exists(path):
            raise RuntimeError(f"the CMake build did not produce {path}")
        found[name] = os.path.realpath(path)
    return found


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _write_dist_info(directory, proj):
    name = f"{_dist_name(proj)}-{proj['version']}.dist-info"
    d = os.path.join(directory, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write(_metadata(proj))
    return name


# ---- PEP 517 hooks ---------------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    proj, _ = _project()
    return _write_dist_info(metadata_directory, proj)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    proj, pkg_dirs = _project()
    if not pkg_dirs:
        raise RuntimeError("pyproject.toml: [tool.kwvk_build] package-dir is missing")
    extra = shlex.split(_setting(config_settings, "cmake-args") or "")
    build_dir = _setting(config_settings, "cmake-build-dir", "KWVK_CMAKE_BUILD_DIR")
    tmp = None
    try:
        if build_dir:
            build_dir = os.path.abspath(build_dir)
        else:
            tmp = tempfile.mkdtemp(prefix="kwvk-wheel-")
            build_dir = tmp
        libs = _cmake_build(build_dir, extra)
        files = []  # (arcname, bytes)
        for pkg, rel in sorted(pkg_dirs.items()):
            root = os.path.join(os.getcwd(), rel)
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                for fn in sorted(filenames):
                    if fn.endswith(".py"):
                        p = os.path.join(dirpath, fn)
                        arc = pkg + "/" + os.path.relpath(p, root).replace(os.sep, "/")
                        with open(p, "rb") as f:
                            files.append((arc, f.read()))
        main_pkg = sorted(pkg_dirs)[0]
        for name, path in libs.items():
            with open(path, "rb") as f:
                files.append((f"{main_pkg}/{name}", f.read()))
        dist = f"{_dist_name(proj)}-{proj['version']}"
        info = f"{dist}.dist-info"
        tag = _tag()
        files.append((f"{info}/METADATA", _metadata(proj).encode()))
        files.append((f"{info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: kwvk_build_backend\n"
                                        f"Root-Is-Purelib: false\nTag: {tag}\n").encode()))
        files.append((f"{info}/top_level.txt", ("\n".join(sorted(pkg_dirs)) + "\n").encode()))
        record = [_record_line(a, d) for a, d in files] + [f"{info}/RECORD,,"]
        files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
        wheel_name = f"{dist}-{tag}.whl"
        out = os.path.join(wheel_directory, wheel_name)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for arc, data in files:
                zi = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = (0o755 if arc.endswith(".so") else 0o644) << 16
                z.writestr(zi, data)
        _log(f"wrote {wheel_name}")
        return wheel_name
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def build_sdist(sdist_directory, config_settings=None):
    """The source tree as git tracks it (without git: everything but build and VCS dirs)."""
    proj, _ = _project()
    base = f"{_dist_name(proj)}-{proj['version']}"
    try:
        names = subprocess.run(["git", "ls-files", "-z"], check=True, capture_output=True).stdout
        names = [n for n in names.decode().split("\0") if n and os.path.isfile(n)]
    except (OSError, subprocess.CalledProcessError):
        names = []
        for dirpath, dirnames, filenames in os.walk("."):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "build"))]
            names += [os.path.relpath(os.path.join(dirpath, f)) for f in filenames]
    name = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for n in sorted(names):
            t.add(n, arcname=f"{base}/{n}", recursive=False)
        pkg_info = _metadata(proj).encode()
        ti = tarfile.TarInfo(f"{base}/PKG-INFO")
        ti.size = len(pkg_info)
        t.addfile(ti, io.BytesIO(pkg_info))
    return name
