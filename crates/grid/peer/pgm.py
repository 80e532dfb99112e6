"""power-grid-model as the peer of gridtrust-grid (crates/grid/tests/pgm_peer.rs, src/bin/grid-bench.rs).

Usage: pgm.py DIR

DIR holds what gridtrust_grid::feeders::Generated::write_pgm wrote (grid.json, load_p.f64,
load_q.f64) and, for state estimation, se.json and meas.f64 written by grid-bench. This script
builds the symmetric power-grid-model input from them, runs the power flow (Newton-Raphson) over
all time steps as one batch and, if measurements are there, the state estimation batch
(iterative linear and Newton-Raphson) and single-estimate latency. It writes the node voltages
(u_pu and u_angle, step-major, little-endian f64) back into DIR and prints the timings as JSON.
"""

import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from power_grid_model import CalculationMethod, LoadGenType, MeasuredTerminalType, PowerGridModel, initialize_array


def measure(report, key, run, repeat):
    """Median wall time and median CPU time of the process (the machine may be shared) of `run`."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    report[key] = float(np.median(wall))
    report[key.replace("_s", "_cpu_s")] = float(np.median(cpu))


def main():
    d = Path(sys.argv[1])
    g = json.loads((d / "grid.json").read_text())
    n_node, n_line = g["n_node"], len(g["from_node"])
    n_load, steps = n_node - 1, g["steps"]

    node = initialize_array("input", "node", n_node)
    node["id"] = np.arange(n_node)
    node["u_rated"] = g["u_rated"]
    line = initialize_array("input", "line", n_line)
    line["id"] = np.arange(n_node, n_node + n_line)
    line["from_node"] = np.array(g["from_node"], dtype=np.int32)
    line["to_node"] = np.array(g["to_node"], dtype=np.int32)
    line["from_status"] = 1
    line["to_status"] = 1
    line["r1"], line["x1"], line["c1"] = g["r1"], g["x1"], g["c1"]
    line["tan1"] = 0.0
    line["i_n"] = 1e3
    load = initialize_array("input", "sym_load", n_load)
    load["id"] = np.arange(n_node + n_line, n_node + n_line + n_load)
    load["node"] = np.arange(1, n_node)
    load["status"] = 1
    load["type"] = LoadGenType.const_power
    load["p_specified"], load["q_specified"] = g["load_p"], g["load_q"]
    source = initialize_array("input", "source", 1)
    source["id"] = n_node + n_line + n_load
    source["node"] = 0
    source["status"] = 1
    source["u_ref"] = g["source_u_ref"]
    source["sk"] = 1e20
    source["rx_ratio"] = 0.1
    data = {"node": node, "line": line, "sym_load": load, "source": source}

    update = initialize_array("update", "sym_load", (steps, n_load))
    update["id"] = load["id"].reshape(1, -1)
    update["p_specified"] = np.fromfile(d / "load_p.f64", dtype="<f8").reshape(steps, n_load)
    update["q_specified"] = np.fromfile(d / "load_q.f64", dtype="<f8").reshape(steps, n_load)

    report = {"power_grid_model": version("power-grid-model"), "steps": steps}
    model = PowerGridModel(data)
    result = {}

    def pf_batch():
        result["pf"] = model.calculate_power_flow(
            update_data={"sym_load": update}, calculation_method=CalculationMethod.newton_raphson, output_component_types=["node"]
        )

    measure(report, "pf_batch_s", pf_batch, 3)
    result["pf"]["node"]["u_pu"].astype("<f8").tofile(d / "pf_u.f64")
    result["pf"]["node"]["u_angle"].astype("<f8").tofile(d / "pf_angle.f64")
    measure(
        report,
        "pf_single_s",
        lambda: model.calculate_power_flow(calculation_method=CalculationMethod.newton_raphson, output_component_types=["node"]),
        51,
    )

    if (d / "se.json").exists():
        se = json.loads((d / "se.json").read_text())
        heads = np.array(se["heads"], dtype=np.int64)
        n_head = heads.size
        base_w = g["base_mva"] * 1e6
        meas = np.fromfile(d / "meas.f64", dtype="<f8").reshape(steps, n_node + 2 * n_load + 2 * n_head)
        next_id = n_node + n_line + n_load + 1
        vs = initialize_array("input", "sym_voltage_sensor", n_node)
        vs["id"] = np.arange(next_id, next_id + n_node)
        vs["measured_object"] = np.arange(n_node)
        vs["u_sigma"] = se["sigma_v"] * g["u_rated"]
        vs["u_measured"] = meas[0, :n_node] * g["u_rated"]
        next_id += n_node
        ps = initialize_array("input", "sym_power_sensor", n_load + n_head)
        ps["id"] = np.arange(next_id, next_id + n_load + n_head)
        ps["measured_object"][:n_load] = np.arange(1, n_node)
        ps["measured_terminal_type"][:n_load] = MeasuredTerminalType.node
        ps["p_sigma"][:n_load] = ps["q_sigma"][:n_load] = se["sigma_injection"] * base_w
        ps["measured_object"][n_load:] = line["id"][heads]
        ps["measured_terminal_type"][n_load:] = MeasuredTerminalType.branch_from
        ps["p_sigma"][n_load:] = ps["q_sigma"][n_load:] = se["sigma_flow"] * base_w
        ps["power_sigma"] = np.nan

        def powers(step):
            o = n_node
            p = np.concatenate((meas[step, o : o + n_load], meas[step, o + 2 * n_load : o + 2 * n_load + n_head]))
            q = np.concatenate((meas[step, o + n_load : o + 2 * n_load], meas[step, o + 2 * n_load + n_head :]))
            return p * base_w, q * base_w

        ps["p_measured"], ps["q_measured"] = powers(0)
        se_data = dict(data, sym_voltage_sensor=vs, sym_power_sensor=ps)
        vu = initialize_array("update", "sym_voltage_sensor", (steps, n_node))
        vu["id"] = vs["id"].reshape(1, -1)
        vu["u_sigma"] = vs["u_sigma"].reshape(1, -1)
        vu["u_measured"] = meas[:, :n_node] * g["u_rated"]
        pu = initialize_array("update", "sym_power_sensor", (steps, n_load + n_head))
        pu["id"] = ps["id"].reshape(1, -1)
        for key in ("power_sigma", "p_sigma", "q_sigma"):
            pu[key] = ps[key].reshape(1, -1)
        for step in range(steps):
            pu["p_measured"][step], pu["q_measured"][step] = powers(step)
        se_model = PowerGridModel(se_data)
        se_update = {"sym_voltage_sensor": vu, "sym_power_sensor": pu}
        for name, method in (("se_il", CalculationMethod.iterative_linear), ("se_nr", CalculationMethod.newton_raphson)):

            def se_batch():
                result[name] = se_model.calculate_state_estimation(
                    update_data=se_update, calculation_method=method, output_component_types=["node"]
                )

            measure(report, f"{name}_batch_s", se_batch, 3)
            result[name]["node"]["u_pu"].astype("<f8").tofile(d / f"{name}_u.f64")
            result[name]["node"]["u_angle"].astype("<f8").tofile(d / f"{name}_angle.f64")
            measure(
                report,
                f"{name}_single_s",
                lambda: se_model.calculate_state_estimation(calculation_method=method, output_component_types=["node"]),
                51,
            )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
