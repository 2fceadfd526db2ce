"""A faulty machine (issue 16, items 1 and 2): every command turns a refused write into one line naming the
path and the cause, exit 3 (:data:`plumsim.errors.EXIT_STORAGE`), no traceback, no partial output, no
temporary file and no empty folder left behind; a finished sweep re-run on a read-only copy only reads;
output paths derived from grid names stay inside ``--out``.

How the faults are made (each test's id says which route ran):

- ENOSPC, route ``tmpfs``: a real small file system, a size-limited tmpfs mounted under ``tmp_path`` (needs
  root and a kernel that lets this process mount, as in the project's containers); full disks fail wherever
  the bytes really run out: in ``write``, at ``close`` or ``fsync``. Route ``patch`` (no mount possible):
  ``os.fsync`` and ``os.replace``, which :mod:`plumsim.fileio` calls for every file it writes, are
  monkeypatched at the os level to raise ``OSError(errno.ENOSPC)``.
- EROFS: the same tmpfs remounted read-only (``mount -o remount,ro``); without mount, a folder tree made
  ``0o555`` when not root, else the write-side os calls under that folder (open for writing, mkdir, rename,
  unlink, mkstemp) monkeypatched to raise ``OSError(errno.EROFS)``.
- EACCES: a ``0o555`` folder when the tests do not run as root; as root (chmod does not stop root) the same
  os-level monkeypatch, raising ``OSError(errno.EACCES)``.
- ENOTDIR, EISDIR: real everywhere (a file where the folder should be, a folder where the file should be).

Commands run in-process through :func:`plumsim.cli.main` (stderr captured), and once as the installed
``.venv/bin/plumsim`` in a subprocess.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from plumsim.cli import main
from plumsim.errors import EXIT_STORAGE, ConfigError, StorageError
from plumsim.fileio import AtomicFiles, atomic_write, check_name, make_dirs, safe_child

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "accel_configs"
DIGITS = ROOT / "workloads" / "cnn-digits.yaml"
R18 = ROOT / "workloads" / "resnet18-imagenet.yaml"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ------------------------------------------------------------------------------------------------ helpers

def _can_mount() -> bool:
    if not IS_ROOT or shutil.which("mount") is None or not sys.platform.startswith("linux"):
        return False
    d = tempfile.mkdtemp(prefix="plumsim-mnt-probe-")
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", d],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", d], capture_output=True)
        return ok
    finally:
        os.rmdir(d)


CAN_MOUNT = _can_mount() and not os.environ.get("PLUMSIM_TEST_NO_MOUNT")  # =1: try the patch route
ROUTE = "tmpfs" if CAN_MOUNT else "patch"


class SmallFS:
    """A folder that runs out of space (or is read-only): a real tmpfs when possible, else os-level patches."""

    def __init__(self, path: Path, monkeypatch, size_kb: int):
        self.path = path
        self.mp = monkeypatch
        self.route = ROUTE
        path.mkdir(parents=True, exist_ok=True)
        if self.route == "tmpfs":
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], check=True)

    def fill(self, leave_kb: int = 0) -> None:
        """Use up the space (leaving about ``leave_kb``); in the patch route, make every fsync/replace fail."""
        if self.route == "tmpfs":
            st = os.statvfs(self.path)
            free = st.f_bavail * st.f_frsize - leave_kb * 1024
            if free > 0:
                with open(self.path / ".fill", "wb") as fh:
                    fh.write(b"\0" * free)
            return
        self.mp.setattr(os, "fsync", _raiser(errno.ENOSPC, "fsync"))
        self.mp.setattr(os, "replace", _raiser(errno.ENOSPC, "replace"))
        root, real_open = os.path.abspath(self.path), builtins.open

        def open_(file, mode="r", *a, **k):  # files opened for writing here take no bytes
            if isinstance(file, (str, os.PathLike)) and "w" in mode and os.path.abspath(file).startswith(root):
                raw = _FullFile(file, "w")
                return raw if "b" in mode else io.TextIOWrapper(raw, encoding=k.get("encoding"))
            return real_open(file, mode, *a, **k)

        self.mp.setattr(builtins, "open", open_)
        self.mp.setattr(io, "open", open_)

    def unfill(self) -> None:
        if self.route == "tmpfs":
            (self.path / ".fill").unlink(missing_ok=True)
        else:
            self.mp.undo()

    def readonly(self) -> None:
        if self.route == "tmpfs":
            subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)
        else:
            deny_writes(self.mp, self.path, errno.EROFS)

    def close(self) -> None:
        if self.route == "tmpfs":
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)

    def files(self) -> list[Path]:
        return [p for p in self.path.rglob("*") if p.name != ".fill"]


class _FullFile(io.FileIO):
    """A file on a disk with no space left: it opens, every write fails with ENOSPC."""

    def write(self, b):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def writable(self):
        return True


def _raiser(code: int, what: str):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    fail.__name__ = f"fail_{what}"
    return fail


def deny_writes(monkeypatch, root: Path, code: int) -> None:
    """Make every write-side os call under ``root`` fail with ``code`` (what EROFS / EACCES do), reads pass.

    Used where the real fault cannot be made (root ignores chmod; no mount)."""
    root = os.path.abspath(root)

    def under(p) -> bool:
        try:
            return os.path.abspath(os.fsdecode(p)).startswith(root)
        except TypeError:
            return False

    def err(p):
        return OSError(code, os.strerror(code), os.fsdecode(p))

    real_open, real_osopen, real_mkdir, real_replace = builtins.open, os.open, os.mkdir, os.replace
    real_rename, real_unlink, real_rmdir, real_mkstemp = os.rename, os.unlink, os.rmdir, tempfile.mkstemp
    real_mkdtemp = tempfile.mkdtemp
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def open_(file, mode="r", *a, **k):
        if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+") and under(file):
            raise err(file)
        return real_open(file, mode, *a, **k)

    def osopen(path, flags, *a, **k):
        if flags & writes and (under(path) or k.get("dir_fd") is not None):
            raise err(path)
        return real_osopen(path, flags, *a, **k)

    def guard(real):
        def f(p, *a, **k):
            if under(p) or k.get("dir_fd") is not None:  # rmtree works by names relative to a folder fd
                raise err(p)
            return real(p, *a, **k)
        return f

    def mkstemp(*a, dir=None, **k):
        if dir is not None and under(dir):
            raise err(dir)
        return real_mkstemp(*a, dir=dir, **k)

    def mkdtemp(*a, dir=None, **k):
        if dir is not None and under(dir):
            raise err(dir)
        return real_mkdtemp(*a, dir=dir, **k)

    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(os, "open", osopen)
    for name, real in (("mkdir", real_mkdir), ("replace", real_replace), ("rename", real_rename),
                       ("unlink", real_unlink), ("rmdir", real_rmdir)):
        monkeypatch.setattr(os, name, guard(real))
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)


@contextlib.contextmanager
def no_write_access(folder: Path, monkeypatch, code: int):
    """``folder`` refuses writes with ``code``: chmod 0o555 for a non-root user (EACCES, real), else os patches."""
    if not IS_ROOT and code == errno.EACCES:
        dirs = [folder] + [p for p in folder.rglob("*") if p.is_dir()]
        for d in dirs:
            d.chmod(0o555)
        try:
            yield "chmod"
        finally:
            for d in dirs:
                d.chmod(0o755)
    else:
        deny_writes(monkeypatch, folder, code)
        try:
            yield "patch"
        finally:
            monkeypatch.undo()


@pytest.fixture
def small_fs(tmp_path, monkeypatch):
    made = []

    def make(size_kb: int = 64, name: str = "fs") -> SmallFS:
        fs = SmallFS(tmp_path / name, monkeypatch, size_kb)
        made.append(fs)
        return fs

    yield make
    monkeypatch.undo()
    for fs in made:
        fs.close()


def run_cli(argv, capsys) -> tuple[int, list[str]]:
    """Run ``plumsim ARGV`` in-process; exit code and the stderr lines that are not notes/progress."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, [ln for ln in err.splitlines() if ln.startswith("plumsim:")]


def assert_one_line(rc: int, lines: list[str], *words: str) -> None:
    assert rc == EXIT_STORAGE, lines
    assert len(lines) == 1, lines
    for w in words:
        assert w in lines[0], lines[0]


def leftovers(root: Path) -> list[Path]:
    """Temporary files, 0-byte files and empty folders under ``root`` (a failed write must leave none)."""
    out = []
    for p in root.rglob("*"):
        if p.name == ".fill":
            continue
        if p.name.startswith((".tmp-", ".old-")) or ".tmp" in p.name:
            out.append(p)
        elif p.is_file() and p.stat().st_size == 0:
            out.append(p)
        elif p.is_dir() and not any(p.iterdir()):
            out.append(p)
    return out


def write_grid(path: Path, workloads=None, name="g") -> Path:
    grid = {"name": name, "energy_table": "stonne", "modes": ["dense", "skip+repeat"],
            "accelerators": [{"label": "sigma", "base": str(PRESETS / "sigma_64.cfg"),
                              "axes": {"ms_size": [32, 64]}}],
            "workloads": workloads or [{"table": str(DIGITS), "schemes": ["signed-binary"], "name": "digits"}]}
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished sweep (digits, 2 SIGMA sizes) with one figure drawn: (grid file, folder)."""
    d = tmp_path_factory.mktemp("finished")
    g = write_grid(d / "g.yaml")
    out = d / "sweep"
    assert main(["sweep", str(g), "--out", str(out), "--workers", "1", "--no-plots"]) == 0
    assert main(["plot", str(out), "--only", "energy_vs_density", "--format", "png"]) == 0
    return g, out


# ------------------------------------------------------------------------------------------------ fileio

@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_atomic_write_enospc_leaves_no_temp_file_and_no_folder(tmp_path, monkeypatch, where):
    """ENOSPC (monkeypatched at the os level / in the writer) in write, fsync or replace: StorageError naming
    the target, the old file intact, no temporary file, the folders made for it removed."""
    target = tmp_path / "a" / "b" / "f.bin"
    old = tmp_path / "keep.bin"
    old.write_bytes(b"old")

    def writer(fh):
        fh.write(b"x" * 1000)
        if where == "write":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where != "write":
        monkeypatch.setattr(os, where, _raiser(errno.ENOSPC, where))
    for path in (target, old):
        with pytest.raises(StorageError) as exc:
            atomic_write(path, writer)
        assert str(path) in str(exc.value) and "No space left on device" in str(exc.value)
        assert exc.value.errno == errno.ENOSPC and "errno 28" in str(exc.value)
    monkeypatch.undo()
    assert old.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["keep.bin"]  # no .tmp-*, no a/b


def test_make_dirs_failure_removes_what_it_made(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="not a folder.*ENOTDIR"):  # a file in the middle of the path
        make_dirs(tmp_path / "file" / "sub")
    real = os.mkdir

    def mkdir(p, *a, **k):  # EACCES on the second level (patched at the os level)
        if Path(p).name == "second":
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(p))
        return real(p, *a, **k)

    monkeypatch.setattr(os, "mkdir", mkdir)
    with pytest.raises(StorageError, match="second: cannot create folder: Permission denied"):
        make_dirs(tmp_path / "first" / "second" / "third")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # 'first' removed again


def test_atomic_files_replace_nothing_unless_all_are_written(tmp_path):
    (tmp_path / "a.txt").write_text("old a")

    def boom(fh):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(StorageError, match="b.txt: cannot write: No space left"):
        with AtomicFiles() as batch:
            batch.stage(tmp_path / "a.txt", lambda fh: fh.write(b"new a"))
            batch.stage(tmp_path / "sub" / "b.txt", boom)
    assert (tmp_path / "a.txt").read_text() == "old a"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt"]


@pytest.mark.parametrize("name, why", [
    ("", "empty"), (".", "relative"), ("..", "relative"), ("../../../escaped", "separator"),
    ("/abs/escaped", "absolute"), ("a\\b", "separator"), ("a\0b", "NUL"), ("x" * 300, "255"),
])
def test_safe_child_refuses_names_that_leave_the_folder(tmp_path, name, why):
    with pytest.raises(ConfigError) as exc:
        safe_child(tmp_path, name, "workloads[0].name", path="g.yaml")
    msg = str(exc.value)
    assert "g.yaml" in msg and "field 'workloads[0].name'" in msg and why in msg and repr(name) in msg
    assert safe_child(tmp_path, "resnet18-sb-d36-s0", "f") == tmp_path / "resnet18-sb-d36-s0"
    assert check_name(".hidden-but-plain", "f") == ".hidden-but-plain"


# ------------------------------------------------------------------------------------------------ ENOSPC

def test_workload_synth_on_full_disk(small_fs, capsys):
    """ENOSPC (tmpfs, or patched fsync/replace): one line naming the file, exit 3, and no folder left (issue: synth left one)."""
    fs = small_fs(64)
    fs.fill(0)
    out = fs.path / "wl" / "r18"
    rc, lines = run_cli(["workload", "synth", "--table", R18, "--scheme", "signed-binary", "--density", "0.36",
                         "--out", out], capsys)
    assert_one_line(rc, lines, "cannot write", "No space left on device", "errno 28", str(out))
    assert fs.files() == []  # no wl/, no wl/r18/, no temp file


@pytest.mark.parametrize("leave_kb", [0, 24])
def test_sweep_on_full_disk(small_fs, capsys, tmp_path, leave_kb):
    """ENOSPC (real tmpfs or patched fsync/replace): exit 3, one line; only whole files stay (no temp, no
    0-byte file, no lock); once space is back, the same command resumes and finishes."""
    g = write_grid(tmp_path / "g.yaml")
    fs = small_fs(512)
    fs.fill(leave_kb)
    out = fs.path / "s"
    rc, lines = run_cli(["sweep", g, "--out", out, "--workers", "1", "--no-plots"], capsys)
    assert_one_line(rc, lines, "cannot write", "No space left on device", str(out))
    assert leftovers(fs.path) == []
    assert not (out / ".plumsim.lock").exists()
    fs.unfill()
    rc, lines = run_cli(["sweep", g, "--out", out, "--workers", "1", "--no-plots"], capsys)
    assert rc == 0 and lines == []
    assert (out / "results.parquet").is_file() and leftovers(fs.path) == []


def test_stonne_export_on_full_disk_leaves_no_half_export(small_fs, capsys, tmp_path):
    wl = tmp_path / "wl"
    assert main(["workload", "synth", "--table", str(DIGITS), "--scheme", "ternary", "--out", str(wl)]) == 0
    fs = small_fs(256)
    fs.fill(8)
    out = fs.path / "exp"
    rc, lines = run_cli(["stonne", "export", wl, "--accel", PRESETS / "maeri_64.cfg", "--out", out], capsys)
    assert_one_line(rc, lines, "No space left on device", str(out))
    assert fs.files() == []
    # an earlier export replaced with --force on a full disk stays as it was
    fs.unfill()
    assert main(["stonne", "export", str(wl), "--accel", str(PRESETS / "maeri_64.cfg"), "--out", str(out)]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    fs.fill(8)
    rc, lines = run_cli(["stonne", "export", wl, "--accel", PRESETS / "sigma_64.cfg", "--out", out, "--force"],
                        capsys)
    assert_one_line(rc, lines, "No space left on device")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert leftovers(fs.path) == [out / "out"]  # the export's own (empty) folder for STONNE's outputs


def test_plot_on_full_disk_leaves_no_cut_figure(small_fs, capsys, finished):
    """A figure cut short by ENOSPC is removed and named; the error is one line, exit 3."""
    _, done = finished
    fs = small_fs(4096)
    shutil.copytree(done, fs.path / "d")
    shutil.rmtree(fs.path / "d" / "plots")
    fs.fill(40)
    rc, lines = run_cli(["plot", fs.path / "d", "--only", "energy_vs_density", "layer_breakdown"], capsys)
    assert_one_line(rc, lines, "No space left on device")
    assert str(fs.path / "d") in lines[0]
    assert leftovers(fs.path) == []


# ------------------------------------------------------------------------------------------------ EROFS / EACCES

def test_finished_sweep_on_read_only_copy_only_reads(small_fs, capsys, finished):
    """EROFS (read-only tmpfs, or write calls patched to fail): re-running a finished sweep reads, exits 0 with
    its summary, keeps its figures; --fresh there is one line, exit 3, nothing removed."""
    g, done = finished
    fs = small_fs(8192)
    shutil.copytree(done, fs.path / "d")
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (fs.path / "d").rglob("*") if p.is_file()}
    fs.readonly()
    rc = main(["sweep", str(g), "--out", str(fs.path / "d"), "--workers", "1"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "Traceback" not in cap.err and "0 computed, 2 resumed" in cap.out and "results:" in cap.out
    rc, lines = run_cli(["sweep", g, "--out", fs.path / "d", "--fresh", "--no-plots"], capsys)
    assert_one_line(rc, lines, "Read-only file system", "errno 30")
    fs.mp.undo()
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (fs.path / "d").rglob("*") if p.is_file()} == before


def test_finished_sweep_rerun_rewrites_nothing(tmp_path, finished, capsys):
    """On a writable copy too: no file of a finished sweep is rewritten (mtimes and bytes unchanged)."""
    g, done = finished
    d = tmp_path / "d"
    shutil.copytree(done, d)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in d.rglob("*") if p.is_file()}
    assert main(["sweep", str(g), "--out", str(d), "--workers", "1", "--no-plots"]) == 0
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in d.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS], ids=["EACCES", "EROFS"])
def test_no_write_access(tmp_path, monkeypatch, capsys, code):
    """A folder that refuses writes (chmod 0o555 as a normal user; os calls patched as root): synth, sweep,
    export, experiment --runs-csv each exit 3 with one line naming the path; nothing is created."""
    locked = tmp_path / "locked"
    locked.mkdir()
    g = write_grid(tmp_path / "g.yaml")
    wl = tmp_path / "wl"
    assert main(["workload", "synth", "--table", str(DIGITS), "--scheme", "binary", "--out", str(wl)]) == 0
    capsys.readouterr()
    reason = os.strerror(code)
    with no_write_access(locked, monkeypatch, code):
        for argv in (["workload", "synth", "--table", DIGITS, "--scheme", "binary", "--out", locked / "w"],
                     ["sweep", g, "--out", locked / "s", "--no-plots", "--workers", "1"],
                     ["stonne", "export", wl, "--accel", PRESETS / "sigma_64.cfg", "--out", locked / "e"]):
            rc, lines = run_cli(argv, capsys)
            assert_one_line(rc, lines, reason, str(locked))
    assert list(locked.iterdir()) == []


# ------------------------------------------------------------------------------------------------ real everywhere

def test_file_in_the_way_and_folder_in_the_way(tmp_path, capsys, finished):
    """ENOTDIR (a file where --out's parent should be) and EISDIR (a folder where a file goes): real faults."""
    (tmp_path / "afile").write_text("x")
    g, _ = finished
    for argv in (["workload", "synth", "--table", DIGITS, "--scheme", "binary", "--out", tmp_path / "afile" / "w"],
                 ["sweep", g, "--out", tmp_path / "afile" / "s", "--no-plots"]):
        rc, lines = run_cli(argv, capsys)
        assert_one_line(rc, lines, str(tmp_path / "afile"), "cannot create folder", "ENOTDIR")
    # a folder where the workload's tensors.npz belongs: the rename fails (EISDIR), the folder stays as it was
    (tmp_path / "w" / "tensors.npz").mkdir(parents=True)
    rc, lines = run_cli(["workload", "synth", "--table", DIGITS, "--scheme", "binary", "--out", tmp_path / "w"],
                        capsys)
    assert_one_line(rc, lines, str(tmp_path / "w" / "tensors.npz"), "Is a directory", "EISDIR")
    assert [p.relative_to(tmp_path).as_posix() for p in (tmp_path / "w").rglob("*")] == ["w/tensors.npz"]
    assert leftovers(tmp_path) == [tmp_path / "w" / "tensors.npz"]  # the user's own empty folder


def test_installed_plumsim_subprocess(tmp_path, small_fs):
    """The installed ``plumsim`` script: ENOTDIR (real) and, where a tmpfs can be mounted, ENOSPC (real)."""
    exe = Path(sys.executable).with_name("plumsim")
    if not exe.exists():
        pytest.skip("no installed plumsim script beside the interpreter")
    (tmp_path / "afile").write_text("x")
    cases = [(tmp_path / "afile" / "w", "ENOTDIR")]
    if CAN_MOUNT:
        fs = small_fs(64)
        fs.fill(0)
        cases.append((fs.path / "w", "ENOSPC"))
    for out, code in cases:
        r = subprocess.run([str(exe), "workload", "synth", "--table", str(R18), "--scheme", "binary",
                            "--out", str(out)], capture_output=True, text=True, timeout=120)
        assert r.returncode == EXIT_STORAGE, r.stderr
        assert "Traceback" not in r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and code in lines[0] and str(out.parent) in lines[0], r.stderr
        assert not out.exists()


# ------------------------------------------------------------------------------------------------ path safety

@pytest.mark.parametrize("name", ["../../../escaped", "/tmp/plumsim-escaped-abs", "sub\\dir"])
def test_grid_workload_name_cannot_leave_out(tmp_path, capsys, name):
    """A grid workload name with a separator, '..' or an absolute path: ConfigError naming the grid file, the
    field and the value, exit 2, before any work (--out not even created); nothing written outside."""
    g = write_grid(tmp_path / "grid.yaml",
                   workloads=[{"table": str(DIGITS), "schemes": ["binary"], "name": name}])
    out = tmp_path / "a" / "b" / "out"
    rc = main(["sweep", str(g), "--out", str(out), "--no-plots"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(g) in lines[0] and "field 'workloads[0].name'" in lines[0]
    assert repr(f"{name}-binary-s0") in lines[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["grid.yaml"]
    assert not Path("/tmp/plumsim-escaped-abs-binary-s0").exists()


def test_storage_error_message_and_exit_code():
    e = StorageError("/x/out/results.parquet", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert str(e) == "/x/out/results.parquet: cannot write: No space left on device (errno 28, ENOSPC)"
    assert e.exit_code == EXIT_STORAGE == 3 and e.errno == errno.ENOSPC
