"""Read the parts of a botocore ClientError that the tests compare."""

from botocore.exceptions import ClientError


def error_code(error: ClientError) -> str:
    """Return the error code, which for SQS is the query-protocol code when the server sends one."""
    return error.response["Error"]["Code"]


def error_message(error: ClientError) -> str:
    return error.response["Error"].get("Message", "")


def http_status(error: ClientError) -> int:
    return error.response["ResponseMetadata"]["HTTPStatusCode"]
