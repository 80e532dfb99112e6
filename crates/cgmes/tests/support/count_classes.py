"""Independent per-class object count for CGMES RDF/XML files (standard library only).

For each file named on the command line, counts the children of the rdf:RDF element that carry
rdf:ID or rdf:about, per element tag in Clark notation ({namespace}Local), and prints one JSON
object {file: {tag: count}}. Shares no code with the Rust reader it checks.
"""
import json
import sys
import xml.etree.ElementTree as ET

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"

counts = {}
for path in sys.argv[1:]:
    per_class = {}
    for element in ET.parse(path).getroot():
        if RDF + "ID" in element.attrib or RDF + "about" in element.attrib:
            per_class[element.tag] = per_class.get(element.tag, 0) + 1
    counts[path] = per_class
json.dump(counts, sys.stdout)
