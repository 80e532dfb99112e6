# CGMES import: rdflib is the baseline of crates/cgmes/benches/import.rs (RDF/XML parsing speed on
# the same files). The class-count test needs only python3's standard library.
pip_need rdflib rdflib==7.6.0
