"""Input errors: the one sentence shape, what is accepted, and the names of the fields every topic shares."""

TEXT = {
    # the one shape of a refused value (lab.errors.number / choice / text / flag)
    "error.value": "{field} is {value}; {accepted} is accepted.",
    "accept.integer_range": "a whole number from {low} to {high}",
    "accept.number_range": "a number from {low} to {high}",
    "accept.number_above": "a number above {low} and at most {high}",
    "accept.number": "a finite number",
    "accept.one_of": "one of {options}",
    "accept.text": "a non-empty text of at most {max_chars} characters",
    "accept.flag": "True or False",
    # errors that are not about one field's value
    "error.internal": "An internal error happened; it has been logged on the server. Please try other values.",
    "error.title.input": "Input not accepted",
    "error.title.internal": "Internal error",
    "error.request.not_uploaded": (
        "A file in this request was not uploaded to the lab, so it cannot be read; upload the file "
        "(gradio_client: handle_file(path)) and send what the upload returns."
    ),
    "error.request.field": (
        "Field '{field}' got {value}, which it does not accept; send the kind of value that field holds on the page."
    ),
    "error.request.inputs": (
        "The inputs of this request do not fit the {count} fields of {endpoint}; send one value per field, of the "
        "kind the page sends."
    ),
}
