"""Baseline for benches/import.rs: rdflib parses the same CGMES files into one Graph.

Usage: rdflib_parse.py RUNS FILE...   Prints JSON {"median_s": ..., "triples": ..., "version": ...}.
"""
import json
import statistics
import sys
import time

import rdflib

runs = int(sys.argv[1])
files = sys.argv[2:]
times = []
triples = 0
for _ in range(runs):
    start = time.perf_counter()
    graph = rdflib.Graph()
    for path in files:
        graph.parse(path, format="xml")
    times.append(time.perf_counter() - start)
    triples = len(graph)
json.dump({"median_s": statistics.median(times), "triples": triples, "version": rdflib.__version__}, sys.stdout)
