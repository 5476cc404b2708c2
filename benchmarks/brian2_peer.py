"""Brian2 peer of the bifsnn spiking network (docs/MODEL.md section 1), for speed and rate checks.

Runs in its own interpreter (Brian2 2.9 needs numpy < 2.4): ``.venv-brian2/bin/python
benchmarks/brian2_peer.py --out peer.npz``.  It does not import bifsnn; the parameters are
passed as JSON (``--params-json``, the ``NetworkParams.to_dict()`` of the caller) or default
to docs/MODEL.md's table.

The same network, written with Brian2's own building blocks:
- one ``NeuronGroup`` (E neurons first) with state v, a refractory flag and two pending-spike
  counters H_E, H_I; one ``run_regularly`` operation per step does docs/MODEL.md steps 1-5 and 7
  (Gaussian or Poisson external drive with Brian2's ``randn``/``poisson``, conductance-like
  inhibition, exponential refractory exit with ``rand``), and the pending-spike decay;
- quenched connectivity: four ``Synapses`` (EE, EI, IE, II) connected with probability p_QQ'
  and no self-connections, each presynaptic spike adding one pending spike (``H_post += 1``);
- pending-spike decay ``--decay poisson`` (default): H <- max(0, H - Poisson(H dt / tau)),
  drawn from H(t) before this step's births arrive, exactly as in the SNN; ``--decay exp``:
  H <- H exp(-dt / tau), a deterministic exponentially decaying synaptic variable.

Threshold ``v > M`` and reset ``v = V_reset; ref = 1`` are Brian2's threshold/reset; a
refractory neuron has v = V_reset and receives no input, so it cannot cross threshold.

Code generation target: ``--target auto`` picks ``cpp_standalone`` when a C++ compiler is on
PATH, else the ``numpy`` runtime target; ``cython`` (runtime) can be forced.  Timings are CPU
seconds: the process's own for runtime targets, the standalone binary's (``RUSAGE_CHILDREN``)
for cpp_standalone, with compile/code-generation time reported separately.  Output: an .npz
with per-step E and I spike counts and a JSON line on stdout with timings and rates.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

DEFAULTS = dict(
    N_E=300, N_I=100, M=100.0, V_reset=0.0, M_r=66.0, lambda_ext=7.0,
    S_EE=0.95, S_IE=1.25, S_EI=2.71, S_II=2.45, p_EE=0.8, p_IE=0.8, p_EI=0.8, p_II=0.8,
    tau_EE=1.4, tau_IE=1.2, tau_EI=4.5, tau_II=4.5, tau_R=4.0, tau_m=None, dt=0.1,
)


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def pick_target(target: str) -> str:
    if target != "auto":
        return target
    return "cpp_standalone" if shutil.which("c++") or shutil.which("g++") else "numpy"


def build_network(b2, p: dict, drive: str, decay: str):
    """Create the Brian2 objects; return (group, [rate monitors E, I], [synapses])."""
    N_E, N_I = int(p["N_E"]), int(p["N_I"])
    N = N_E + N_I
    dt = p["dt"]
    eqs = """
    v : 1
    ref : 1
    H_E : 1
    H_I : 1
    a_E : 1 (constant)
    a_I : 1 (constant)
    k_E : 1 (constant)
    k_I : 1 (constant)
    """
    G = b2.NeuronGroup(N, eqs, threshold="v > M_th", reset="v = V_reset_; ref = 1", name="neurons")
    # per-step voltage per pending spike (S dt / tau) and per-step decay probability dt / tau
    G.a_E[:N_E] = p["S_EE"] * dt / p["tau_EE"]
    G.a_E[N_E:] = p["S_IE"] * dt / p["tau_IE"]
    G.a_I[:N_E] = p["S_EI"] * dt / p["tau_EI"]
    G.a_I[N_E:] = p["S_II"] * dt / p["tau_II"]
    G.k_E[:N_E] = dt / p["tau_EE"]
    G.k_E[N_E:] = dt / p["tau_IE"]
    G.k_I[:N_E] = dt / p["tau_EI"]
    G.k_I[N_E:] = dt / p["tau_II"]
    G.v = 0.0  # docs/MODEL.md initial state: V = 0, H = 0, nobody refractory

    ext = "poisson(lam_dt)" if drive == "poisson" else "lam_dt + sqrt(lam_dt) * randn()"
    leak = "" if p.get("tau_m") in (None, 0) else " - v * leak_dt"
    if decay == "poisson":
        dec = ("H_E = clip(H_E - poisson(k_E * H_E), 0, inf)\n"
               "H_I = clip(H_I - poisson(k_I * H_I), 0, inf)")
    else:
        dec = "H_E = H_E * exp(-k_E)\nH_I = H_I * exp(-k_I)"  # exp(-dt/tau) per step
    code = f"""
    active = 1 - ref
    v = v + active * ({ext} + a_E * H_E - a_I * H_I * (v + M_r) / (M_th + M_r){leak})
    ref = ref * int(rand() >= p_leave)
    {dec}
    """
    code = "\n".join(line.strip() for line in code.strip().splitlines())
    G.run_regularly(code, when="start", name="update")

    E, I = G[:N_E], G[N_E:]
    syns = []
    for post, pre, key, var in ((E, E, "EE", "H_E"), (E, I, "EI", "H_I"),
                                (I, E, "IE", "H_E"), (I, I, "II", "H_I")):
        s = b2.Synapses(pre, post, on_pre=f"{var}_post += 1", name=f"syn_{key}")
        if pre is post:
            s.connect(condition="i != j", p=p[f"p_{key}"])
        else:
            s.connect(p=p[f"p_{key}"])
        syns.append(s)
    mons = [b2.PopulationRateMonitor(E, name="rate_E"), b2.PopulationRateMonitor(I, name="rate_I")]
    return G, mons, syns


def namespace(p: dict) -> dict:
    dt = p["dt"]
    return dict(
        M_th=p["M"], M_r=p["M_r"], V_reset_=p["V_reset"], lam_dt=p["lambda_ext"] * dt,
        p_leave=dt / p["tau_R"],
        leak_dt=0.0 if p.get("tau_m") in (None, 0) else dt / p["tau_m"],
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params-json", help="network parameters as JSON (NetworkParams.to_dict)")
    ap.add_argument("--t-ms", type=float, default=1000.0, help="model time, ms")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--drive", choices=("gaussian", "poisson"), default="gaussian")
    ap.add_argument("--decay", choices=("poisson", "exp"), default="poisson")
    ap.add_argument("--target", choices=("auto", "numpy", "cython", "cpp_standalone"),
                    default="auto")
    ap.add_argument("--build-dir", type=Path, help="cpp_standalone project directory "
                    "(default: a temporary one, removed afterwards)")
    ap.add_argument("--out", type=Path, help="write per-step spike counts here (.npz)")
    args = ap.parse_args(argv)

    import brian2 as b2
    import numpy as np

    p = dict(DEFAULTS)
    if args.params_json:
        p.update(json.loads(args.params_json))
    target = pick_target(args.target)
    b2.prefs.logging.std_redirection = False
    b2.BrianLogger.suppress_name("resolution_conflict")
    dt = p["dt"]
    b2.defaultclock.dt = dt * b2.ms
    n_steps = int(round(args.t_ms / dt))

    tmp_dir = None
    if target == "cpp_standalone":
        build_dir = args.build_dir
        if build_dir is None:
            tmp_dir = tempfile.mkdtemp(prefix="bifsnn_brian2_")
            build_dir = Path(tmp_dir)
        b2.set_device("cpp_standalone", directory=str(build_dir), build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0  # single thread, like numba
    else:
        b2.prefs.codegen.target = target
    b2.seed(args.seed)

    t0 = time.process_time()
    G, mons, syns = build_network(b2, p, args.drive, args.decay)
    net = b2.Network(G, *mons, *syns)
    ns = namespace(p)
    info: dict = {"target": target, "decay": args.decay, "drive": args.drive,
                  "N_E": int(p["N_E"]), "N_I": int(p["N_I"]), "t_ms": n_steps * dt,
                  "seed": args.seed, "brian2_version": b2.__version__}
    try:
        if target == "cpp_standalone":
            net.run(n_steps * dt * b2.ms, namespace=ns)
            c0, w0 = _child_cpu(), time.perf_counter()
            b2.device.build(directory=str(build_dir), compile=True, run=False,
                            with_output=False)
            info["compile_cpu_s"] = _child_cpu() - c0 + (time.process_time() - t0)
            info["compile_wall_s"] = time.perf_counter() - w0
            c0, w0 = _child_cpu(), time.perf_counter()
            b2.device.run(directory=str(build_dir), with_output=False, run_args=[])
            info["run_cpu_s"] = _child_cpu() - c0  # includes synapse creation in the binary
            info["run_wall_s"] = time.perf_counter() - w0
        else:
            # one step first: code generation / Cython compilation and synapse setup happen
            # here, so the timed run below is the simulation only
            net.run(dt * b2.ms, namespace=ns)
            info["compile_cpu_s"] = time.process_time() - t0
            c0, w0 = time.process_time(), time.perf_counter()
            net.run((n_steps - 1) * dt * b2.ms, namespace=ns)
            info["run_cpu_s"] = time.process_time() - c0
            info["run_wall_s"] = time.perf_counter() - w0
        n_e, n_i = int(p["N_E"]), int(p["N_I"])
        ce = np.rint(np.asarray(mons[0].rate_) * n_e * dt * 1e-3).astype(np.int64)
        ci = np.rint(np.asarray(mons[1].rate_) * n_i * dt * 1e-3).astype(np.int64)
        info["n_synapses"] = int(sum(len(s) for s in syns))
    finally:
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    info["n_steps"] = int(ce.size)
    info["rate_e_hz_all"] = float(1000.0 * ce.sum() / (ce.size * dt) / n_e)
    info["rate_i_hz_all"] = float(1000.0 * ci.sum() / (ci.size * dt) / n_i)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp.npz")
        np.savez_compressed(tmp, spike_counts_e=ce, spike_counts_i=ci, dt_ms=dt,
                            info=json.dumps(info))
        os.replace(tmp, args.out)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
