"""NetworkParams: defaults, validation of every field, TOML round trip, size scaling."""

import math

import pytest

from bifsnn.network.params import NetworkParams, ParameterError

INT_FIELDS = ["N_E", "N_I"]
PROB_FIELDS = ["p_EE", "p_IE", "p_EI", "p_II"]
POSITIVE_FIELDS = ["M", "tau_EE", "tau_IE", "tau_EI", "tau_II", "tau_R", "dt"]
NONNEG_FIELDS = ["S_EE", "S_IE", "S_EI", "S_II", "M_r", "lambda_ext"]


def test_defaults_match_model_md():
    p = NetworkParams()
    assert (p.N_E, p.N_I, p.M, p.V_reset, p.M_r, p.lambda_ext) == (300, 100, 100, 0, 66, 7)
    assert (p.S_EE, p.S_IE, p.S_EI, p.S_II) == (0.95, 1.25, 2.71, 2.45)
    assert all(p.p(pw) == 0.8 for pw in ("EE", "IE", "EI", "II"))
    assert (p.tau_EE, p.tau_IE, p.tau_EI, p.tau_II, p.tau_R) == (1.4, 1.2, 4.5, 4.5, 4.0)
    assert p.tau_m is None and p.dt == 0.1


@pytest.mark.parametrize("name", INT_FIELDS)
@pytest.mark.parametrize("bad", [0, -3, 2.5, math.nan, math.inf, "300", True, None])
def test_sizes_rejected(name, bad):
    with pytest.raises(ParameterError, match=name):
        NetworkParams().replace(**{name: bad})


@pytest.mark.parametrize("name", PROB_FIELDS)
@pytest.mark.parametrize("bad", [-0.01, 1.01, math.nan, math.inf, "0.5", None])
def test_probabilities_rejected(name, bad):
    with pytest.raises(ParameterError, match=rf"{name}.*(\[0, 1\]|type)"):
        NetworkParams().replace(**{name: bad})


@pytest.mark.parametrize("name", POSITIVE_FIELDS)
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, -math.inf, math.inf, "1", None])
def test_positive_fields_rejected(name, bad):
    with pytest.raises(ParameterError, match=name):
        NetworkParams().replace(**{name: bad})


@pytest.mark.parametrize("name", NONNEG_FIELDS)
@pytest.mark.parametrize("bad", [-1e-9, math.nan, math.inf, [1.0], None])
def test_nonnegative_fields_rejected(name, bad):
    with pytest.raises(ParameterError, match=name):
        NetworkParams().replace(**{name: bad})


@pytest.mark.parametrize("bad", [0.0, -5.0, math.nan, "10"])
def test_leak_rejected(bad):
    with pytest.raises(ParameterError, match="tau_m"):
        NetworkParams(tau_m=bad)


def test_boundary_values_accepted():
    p = NetworkParams(p_EE=0.0, p_II=1.0, S_EE=0.0, lambda_ext=0.0, M_r=0.0, N_E=1, tau_m=20.0)
    assert p.p_II == 1.0 and p.tau_m == 20.0


def test_cross_field_rules():
    with pytest.raises(ParameterError, match="V_reset"):
        NetworkParams(V_reset=100.0)
    with pytest.raises(ParameterError, match="V_reset"):
        NetworkParams(V_reset=-66.5)
    with pytest.raises(ParameterError, match="dt"):
        NetworkParams(dt=5.0)


def test_unknown_names_rejected():
    with pytest.raises(ParameterError, match="unknown parameter"):
        NetworkParams().replace(p_XY=0.3)
    with pytest.raises(ParameterError, match="unknown parameter"):
        NetworkParams.from_toml("N_E = 300\nbogus = 1\n")


def test_immutable():
    p = NetworkParams()
    with pytest.raises(AttributeError):
        p.N_E = 5  # type: ignore[misc]


def test_toml_round_trip(tmp_path):
    p = NetworkParams(p_EI=0.5, tau_EE=4.0, tau_m=20.0, N_E=1200)
    assert NetworkParams.from_toml(p.to_toml()) == p
    path = tmp_path / "sub" / "p.toml"
    p.save_toml(path)
    assert NetworkParams.load_toml(path) == p
    # a [network] table is accepted too
    assert NetworkParams.from_toml("[network]\np_EI = 0.5\n").p_EI == 0.5


def test_assignments():
    p = NetworkParams().with_assignments(["p_EI=0.5", "N_E = 600", "tau_m=none"])
    assert (p.p_EI, p.N_E, p.tau_m) == (0.5, 600, None)
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        NetworkParams().with_assignments(["p_EI"])
    with pytest.raises(ParameterError, match="p_EI"):
        NetworkParams().with_assignments(["p_EI=2"])


def test_size_scaling_keeps_n_times_s():
    p = NetworkParams()
    q = p.scaled(10)
    assert (q.N_E, q.N_I) == (3000, 1000)
    for pre, post_pws in (("E", ("EE", "IE")), ("I", ("EI", "II"))):
        for pw in post_pws:
            assert q.S(pw) * q.N(pre) == pytest.approx(p.S(pw) * p.N(pre), rel=1e-12)
    assert q.p_EE == p.p_EE and q.tau_EE == p.tau_EE
    with pytest.raises(ParameterError, match="k"):
        p.scaled(0)
    with pytest.raises(ParameterError, match="k"):
        p.scaled(0.001)


def test_atomic_writes_leave_no_temp_and_use_umask_permissions(tmp_path):
    import os
    import stat

    from bifsnn.network.results import atomic_write_text

    target = tmp_path / "x" / "f.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_atomic_create_text_never_replaces_an_existing_file(tmp_path):
    """A generated module another process wrote first keeps its inode and timestamp (numba's
    cache of it is keyed on them); only the first call creates the file, no temp file stays."""
    import os

    from bifsnn._files import atomic_create_text

    path = tmp_path / "sub" / "mod.py"
    assert atomic_create_text(path, "x = 1\n")
    first = os.stat(path)
    os.utime(path, ns=(first.st_atime_ns, first.st_mtime_ns - 10**9))
    before = os.stat(path)
    assert not atomic_create_text(path, "x = 2\n")
    after = os.stat(path)
    assert path.read_text() == "x = 1\n"
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in path.parent.iterdir()) == ["mod.py"]
