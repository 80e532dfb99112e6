# CGMES import: rdflib (PyPI) is the independent RDF/XML parser crates/cgmes/tests/rdflib_triples.rs
# compares our reader with, triple for triple, and the baseline of crates/cgmes/benches/import.rs.
# The class-count test needs only python3's standard library.
pip_need rdflib rdflib==7.6.0
