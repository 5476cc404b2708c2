"""Finite-size noise of the reduced model: a chemical Langevin SDE of the ODE's dimension.

The ODE of MODEL.md 5b is the mean of a continuous-time Markov chain of N_E + N_I neurons:
each neuron of bin j jumps once per exponential time of mean h to bin l with probability
P_jl (or fires with probability P_fire,j), and each refractory neuron returns to the reset
bin at rate 1/tau_R.  Every such event is a reaction r with propensity a_r(x) (events per ms)
and a jump vector nu_r in the state x:

* transfer j -> l of population Q: a = n_j P_jl / h; n_j -= 1, n_l += 1, A_j -= Vbar_j,
  A_l += W_jl (W_jl = the conditional mean voltage of the arrivals, M1_jl / P_jl);
* firing from bin j: a = n_j P_fire,j / h; n_j -= 1, A_j -= Vbar_j, and every pathway QQ'
  fed by Q (Q' = Q) gains m += p, v += p (1 - p) (the Markov model's moment update per spike);
* refractory exit: a = R_Q / tau_R; n_reset += 1, A_reset += V_reset.

The closure enters through the transition probabilities P_jl only, so the same reactions
serve the paper's closure and the coloured one (MODEL.md 5d: a larger input variance, same
state); the conditional closures (per-bin pending totals, state 8 K + 8) have no reactions here
and are refused.  The sum of a_r nu_r is the ODE's drift (up to the bin-mean regularisation
delta), and the diffusion matrix is D(x) = sum_r a_r nu_r nu_r^T: the variance of the
Poisson counts of N neurons' transitions (:func:`diffusion_matrix`).  Since every propensity
is proportional to the neuron numbers, the noise of the normalised state x / N scales as
1 / N.  Approximation: the voltage an arrival brings is set to its conditional mean W_jl
(the within-bin spread of at most dv/2 is neglected), so A's noise is that of the counts.

:func:`simulate_sde` integrates dx = f(x) dt + sum_r sqrt(a_r dt) xi_r nu_r by Euler-Maruyama
(strong order 1/2, weak order 1) with the model's own compiled drift f, one independent
normal xi_r per reaction and step, drawn from ``numpy.random.default_rng(seed)``.
Positivity (partial truncation, as for square-root diffusions): the drift is evaluated at x,
the noise with the reactions of bins with n_j > 0 only, so a bin pushed slightly below 0
only refills and no mass is created (clipping n at 0 would add mass: about 16 neurons/ms at
the defaults, measured); A_j is kept within n_j times the bin's range (n_j times the
midpoint for n_j < 0) and negative moments are set to 0.  ``options`` reports the largest
total negative occupancy seen (``max_negative_mass``) and the clipped moments.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from bifsnn.network.params import ParameterError
from bifsnn.network.results import SimulationResult
from bifsnn.reduction.codegen import import_file
from bifsnn.reduction.integrate import _as_model
from bifsnn.reduction.model import SLOPE_CLOSURES, MarkovModelDef, ReducedModel

__all__ = ["reactions", "diffusion_matrix", "drift_from_reactions", "simulate_sde"]

_NNZ = 6  # at most 6 state entries change in one reaction (firing: n, A and 2 x (m, v))


_TEMPLATE = Path(__file__).with_name("_noise_template_src.py")
_LOADED: dict[str, ModuleType] = {}
_LOCK = threading.Lock()


def _kernels(m: ReducedModel) -> ModuleType:
    """The SDE kernels compiled against ``m``'s generated module (written next to it)."""
    gen = m.module
    h = hashlib.sha256((gen.__name__ + "\n").encode() + _TEMPLATE.read_bytes())
    name = f"bifsnn_noise_{h.hexdigest()[:16]}"
    with _LOCK:
        if name in _LOADED:
            return _LOADED[name]
        path = Path(gen.__file__).with_name(name + ".py")
        if not path.exists():
            from bifsnn._files import atomic_create_text

            atomic_create_text(path, f"from {gen.__name__} import _source, edge_kernel, rhs\n"
                               + _TEMPLATE.read_text())
        module = import_file(path)
        _LOADED[name] = module
        return module


def _sde_model(model: MarkovModelDef | ReducedModel) -> ReducedModel:
    """The compiled model, if its closure has reactions here (state 4 K + 8: "paper" and
    "coloured"); the conditional closures' per-bin pending totals have none."""
    m = _as_model(model)
    if m.definition.conditional or m.definition.closure in SLOPE_CLOSURES:
        raise ParameterError(
            f"closure = {m.definition.closure!r} is out of range for the finite-size noise: "
            "must be one with the paper's transport ('paper', 'coloured' or "
            "'coloured-regime')")
    return m


def _max_reactions(K: int) -> int:
    return 2 * (K * K + K + 1)


def reactions(model: MarkovModelDef | ReducedModel,
              x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(propensities per ms, jump indices, jump values) of every reaction at state ``x``;
    index -1 marks an unused slot."""
    m = _sde_model(model)
    x = m._check(x)
    nr = _max_reactions(m.definition.K)
    a = np.zeros(nr)
    idx = np.full((nr, _NNZ), -1, np.int64)
    val = np.zeros((nr, _NNZ))
    r = _kernels(m)._reactions(x, m.pv, m.edges, m.opt, a, idx, val)
    return a[:r], idx[:r], val[:r]


def _dense_jumps(n: int, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
    nu = np.zeros((idx.shape[0], n))
    rows = np.repeat(np.arange(idx.shape[0]), idx.shape[1])
    cols = idx.ravel()
    ok = cols >= 0
    np.add.at(nu, (rows[ok], cols[ok]), val.ravel()[ok])
    return nu


def diffusion_matrix(model: MarkovModelDef | ReducedModel, x: Any) -> np.ndarray:
    """D(x) = sum_r a_r nu_r nu_r^T (per ms): Cov(dx) = D dt for the SDE's noise."""
    m = _sde_model(model)
    a, idx, val = reactions(m, x)
    nu = _dense_jumps(m.n_state, idx, val)
    return (nu * a[:, None]).T @ nu


def drift_from_reactions(model: MarkovModelDef | ReducedModel, x: Any) -> np.ndarray:
    """sum_r a_r nu_r, which equals the ODE's right-hand side except for the moments'
    deterministic decay terms and the bin-mean regularisation (a consistency check)."""
    m = _sde_model(model)
    a, idx, val = reactions(m, x)
    return _dense_jumps(m.n_state, idx, val).T @ a


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} = {value!r} is out of range: must be a finite number > 0")
    return float(value)


def simulate_sde(
    model: MarkovModelDef | ReducedModel,
    *,
    t_ms: float,
    seed: int = 0,
    x0: np.ndarray | None = None,
    dt_ms: float = 0.01,
    record_every_ms: float = 1.0,
    noise_scale: float = 1.0,
) -> SimulationResult:
    """Integrate the reduced model with finite-size noise (Euler-Maruyama, step ``dt_ms``).

    ``dt_ms`` must divide the output step params.dt; ``noise_scale`` multiplies the noise
    (1: the N neurons of the parameters; 0: explicit Euler of the ODE).  Spike counts are
    per output step (expected count plus the firing reactions' noise; a negative step total
    is carried into the next step, so counts are >= 0 and their sum, hence the mean rate, is
    unbiased);
    ``extra`` holds ``state_t_ms``, ``state`` (every ``record_every_ms``) and ``final_state``.
    """
    m = _sde_model(model)
    d = m.definition
    t_ms = _positive(t_ms, "t_ms")
    dt_ms = _positive(dt_ms, "dt_ms")
    rec_ms = _positive(record_every_ms, "record_every_ms")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed = {seed!r} is out of range: must be an integer >= 0")
    if isinstance(noise_scale, bool) or not isinstance(noise_scale, int | float) \
            or not math.isfinite(noise_scale) or noise_scale < 0:
        raise ParameterError(f"noise_scale = {noise_scale!r} is out of range: must be >= 0")
    out_dt = d.params.dt
    n_sub = int(round(out_dt / dt_ms))
    if n_sub < 1 or abs(n_sub * dt_ms - out_dt) > 1e-9 * out_dt:
        raise ParameterError(
            f"dt_ms = {dt_ms!r} is out of range: must divide the output step dt = {out_dt} ms")
    if dt_ms > d.window_ms:
        raise ParameterError(f"dt_ms = {dt_ms!r} is out of range: must be <= the window "
                             f"h = {d.window_ms} ms (Euler stability)")
    n_out = max(1, int(round(t_ms / out_dt)))
    every = max(1, int(round(rec_ms / out_dt)))
    x = d.initial_state() if x0 is None else np.array(x0, dtype=float)
    if x.shape != (d.n_state,):
        raise ParameterError(f"x0 has shape {x.shape}; expected ({d.n_state},)")
    nr = _max_reactions(d.K)
    a = np.zeros(nr)
    idx = np.full((nr, _NNZ), -1, np.int64)
    val = np.zeros((nr, _NNZ))
    counts = np.zeros((n_out, 2))
    states = np.zeros((n_out // every, d.n_state))
    clipped = np.zeros(2)
    rng = np.random.default_rng(int(seed))
    kernels = _kernels(m)
    t0 = time.perf_counter()
    status = kernels._em_steps(x, m.pv, m.edges, m.opt, dt_ms, n_sub, n_out, every,
                               float(noise_scale), rng, a, idx, val, counts, states, clipped)
    wall = time.perf_counter() - t0
    n_done = n_out if status == 0 else status
    message = "ok" if status == 0 else f"non-finite state at t = {n_done * out_dt:.6g} ms"
    n_rec = n_done // every
    return SimulationResult(
        model="sde",
        params=d.params,
        dt_ms=out_dt,
        spike_counts_e=counts[:n_done, 0].copy(),
        spike_counts_i=counts[:n_done, 1].copy(),
        seed=int(seed),
        options={
            "form": "sde", "scheme": "euler-maruyama", "sde_dt_ms": dt_ms,
            "noise_scale": float(noise_scale), "success": status == 0, "message": message,
            "max_negative_mass": float(clipped[0]), "clipped_moments": float(clipped[1]),
            "wall_s": wall, "bin_rule": d.bin_rule, "dv": d.dv, "v_min": d.v_min,
            "delta": d.delta, "window_ms": d.window_ms, "state_names": d.state_names,
        },
        extra={
            "state_t_ms": (np.arange(n_rec) + 1) * every * out_dt,
            "state": states[:n_rec],
            "final_state": x,
        },
    )
