"""Triples of CGMES RDF/XML files as parsed by rdflib (PyPI), in a plain normal form.

Usage: rdflib_triples.py FILE...   Prints JSON {file: [[subject, predicate, kind, object], ...]}
with subjects and object references as bare mRIDs (no base URI, '#', '_' or 'urn:uuid:'),
names as prefix:Local for the CGMES namespaces, kind "literal", "reference" (to an object),
"iri" (anything else, e.g. an enumeration value) or "class" (object of rdf:type).
"""
import json
import sys

import rdflib

PREFIXES = {
    "http://iec.ch/TC57/2013/CIM-schema-cim16#": "cim:",
    "http://entsoe.eu/CIM/SchemaExtension/3/1#": "entsoe:",
    "http://iec.ch/TC57/61970-552/ModelDescription/1#": "md:",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf:",
}


def name(iri):
    for namespace, prefix in PREFIXES.items():
        if iri.startswith(namespace):
            return prefix + iri[len(namespace):]
    return iri


def mrid(iri):
    if iri.startswith("urn:uuid:"):
        bare = iri[len("urn:uuid:"):]
    else:
        bare = iri.rsplit("#", 1)[-1]
    return bare[1:] if bare.startswith("_") else bare


out = {}
for path in sys.argv[1:]:
    graph = rdflib.Graph()
    graph.parse(path, format="xml")
    triples = []
    for s, p, o in graph:
        predicate = name(str(p))
        if predicate == "rdf:type":
            kind, value = "class", name(str(o))
        elif isinstance(o, rdflib.Literal):
            kind, value = "literal", str(o)
        elif str(o).startswith("file:") or str(o).startswith("urn:uuid:"):
            kind, value = "reference", mrid(str(o))
        else:
            kind, value = "iri", str(o)
        triples.append([mrid(str(s)), predicate, kind, value])
    out[path] = triples
json.dump(out, sys.stdout)
