# The API's OpenAPI document is exercised by schemathesis (PyPI), which we did not write.
pip_need schemathesis schemathesis==4.32.5
