#!/usr/bin/env python3
"""Counts what an SCL file contains, independently of gridtrust-scl, for the corpus manifest.

Written against IEC 61850-6 with the Python standard library's ElementTree (a DOM, where the
importer is a streaming reader), so that a mistake in the importer does not repeat here. Prints one
tab-separated line per file, in the column order of manifest.tsv:

    ieds lds lns attributes data_sets fcdas report_controls gse_controls smv_controls
    log_controls setting_controls ext_refs lnodes

`attributes` counts the data attributes with a basic type that the LNs' types expand to: an
LNodeType's DOs, a DOType's SDOs (recursively) and DAs, a Struct DA's BDAs (recursively); the first
definition of an id wins; an array (`count`) counts once; a DA without `fc` or a Struct/Enum
without `type` has no attribute. `lnodes` counts LNode elements in Substation and its containers,
including Function, SubFunction, GeneralEquipment and EqFunction.

Usage: count.py FILE...
"""

import sys
import xml.etree.ElementTree as ET

BASIC_TYPES = {
    "BOOLEAN", "INT8", "INT16", "INT24", "INT32", "INT64", "INT128", "INT8U", "INT16U", "INT24U",
    "INT32U", "FLOAT32", "FLOAT64", "Enum", "Dbpos", "Tcmd", "Quality", "Timestamp", "VisString32",
    "VisString64", "VisString65", "VisString129", "VisString255", "Octet64", "Unicode255", "Struct",
    "EntryTime", "Check", "ObjRef", "Currency", "PhyComAddr", "TrgOps", "OptFlds", "SvOptFlds",
    "LogOptFlds", "EntryID", "Octet6", "Octet16",
}


def local(tag):
    return tag.rsplit("}", 1)[-1]


def children(element, name):
    return [child for child in element if local(child.tag) == name]


class Templates:
    def __init__(self, root):
        self.types = {}
        for templates in children(root, "DataTypeTemplates"):
            for kind in ("LNodeType", "DOType", "DAType"):
                for definition in children(templates, kind):
                    self.types.setdefault((kind, definition.get("id")), definition)
        self.memo = {}

    def leaves(self, kind, type_id, with_fc=None):
        """Attributes with a basic type below a type; `with_fc` carries a DA's fc into its BDAs."""
        key = (kind, type_id, with_fc)
        if key not in self.memo:
            self.memo[key] = 0  # a cycle counts nothing (the importer refuses the file anyway)
            definition = self.types.get((kind, type_id))
            self.memo[key] = 0 if definition is None else self.count(kind, definition, with_fc)
        return self.memo[key]

    def attribute(self, element, fc):
        btype = element.get("bType")
        if fc is None or btype not in BASIC_TYPES:
            return 0
        if btype == "Struct":
            return self.leaves("DAType", element.get("type"), fc) if element.get("type") else 0
        if btype == "Enum" and not element.get("type"):
            return 0
        return 1

    def count(self, kind, definition, with_fc):
        total = 0
        for child in definition:
            name = local(child.tag)
            if kind == "LNodeType" and name == "DO":
                total += self.leaves("DOType", child.get("type"))
            elif kind == "DOType" and name == "SDO":
                total += self.leaves("DOType", child.get("type"))
            elif kind == "DOType" and name == "DA":
                total += self.attribute(child, child.get("fc"))
            elif kind == "DAType" and name == "BDA":
                total += self.attribute(child, with_fc)
        return total


LNODE_CONTAINERS = {
    "Substation", "VoltageLevel", "Bay", "ConductingEquipment", "SubEquipment", "PowerTransformer",
    "TransformerWinding", "TapChanger", "Function", "SubFunction", "GeneralEquipment", "EqFunction",
    "EqSubFunction",
}


def lnodes(element):
    total = 0
    for child in element:
        name = local(child.tag)
        if name == "LNode":
            total += 1
        elif name in LNODE_CONTAINERS:
            total += lnodes(child)
    return total


def count(path):
    root = ET.parse(path).getroot()
    templates = Templates(root)
    counts = dict.fromkeys(
        "ieds lds lns attributes data_sets fcdas report_controls gse_controls smv_controls "
        "log_controls setting_controls ext_refs lnodes".split(), 0)
    for ied in children(root, "IED"):
        counts["ieds"] += 1
        for access_point in children(ied, "AccessPoint"):
            for server in children(access_point, "Server"):
                for ld in children(server, "LDevice"):
                    counts["lds"] += 1
                    for ln in children(ld, "LN0") + children(ld, "LN"):
                        is_ln0 = local(ln.tag) == "LN0"
                        counts["lns"] += 1
                        counts["attributes"] += templates.leaves("LNodeType", ln.get("lnType"))
                        for data_set in children(ln, "DataSet"):
                            counts["data_sets"] += 1
                            counts["fcdas"] += len(children(data_set, "FCDA"))
                        counts["report_controls"] += len(children(ln, "ReportControl"))
                        counts["log_controls"] += len(children(ln, "LogControl"))
                        for inputs in children(ln, "Inputs"):
                            counts["ext_refs"] += len(children(inputs, "ExtRef"))
                        if is_ln0:
                            counts["gse_controls"] += len(children(ln, "GSEControl"))
                            counts["smv_controls"] += len(children(ln, "SampledValueControl"))
                            counts["setting_controls"] += len(children(ln, "SettingControl"))
    for substation in children(root, "Substation"):
        counts["lnodes"] += lnodes(substation)
    return counts


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print("\t".join(str(value) for value in count(path).values()))
