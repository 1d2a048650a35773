#!/usr/bin/env bash
# A short SQS session with the aws CLI against a running Postroom server:
# create a queue, send a message with an attribute, receive it, delete it,
# show the queue attributes and delete the queue.
#
# Usage: POSTROOM_ENDPOINT=http://127.0.0.1:4566 examples/sqs-quickstart.sh
# Needs the aws CLI (v1 or v2) on PATH. Postroom does not check credentials,
# so dummy ones are set when none are configured.
set -euo pipefail

endpoint="${POSTROOM_ENDPOINT:-http://127.0.0.1:4566}"
queue_name="${QUEUE_NAME:-quickstart-$$}"
body="Hello from the Postroom quickstart"

export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_EC2_METADATA_DISABLED=true
export AWS_PAGER=""

sqs() {
    aws --endpoint-url "$endpoint" --output json sqs "$@"
}

queue_url=""
cleanup() {
    # Remove the queue when a step after its creation failed.
    if [[ -n "$queue_url" ]]; then
        sqs delete-queue --queue-url "$queue_url" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

echo "Endpoint: $endpoint"

echo "1. Creating queue $queue_name"
queue_url="$(sqs create-queue --queue-name "$queue_name" --query QueueUrl --output text)"
echo "   queue URL: $queue_url"

echo "2. Sending a message with the attribute greeting=hello"
message_id="$(sqs send-message --queue-url "$queue_url" --message-body "$body" \
    --message-attributes '{"greeting": {"DataType": "String", "StringValue": "hello"}}' \
    --query MessageId --output text)"
echo "   message ID: $message_id"

echo "3. Receiving the message"
received="$(sqs receive-message --queue-url "$queue_url" --message-attribute-names All \
    --wait-time-seconds 5 \
    --query 'Messages[0].[MessageId, ReceiptHandle, MessageAttributes.greeting.StringValue, Body]' \
    --output text)"
IFS=$'\t' read -r received_id receipt_handle greeting received_body <<<"$received"
echo "   body: $received_body"
echo "   attribute greeting: $greeting"
if [[ "$received_id" != "$message_id" || "$received_body" != "$body" ]]; then
    echo "error: received message $received_id with body '$received_body'," \
        "expected message $message_id with body '$body'" >&2
    exit 1
fi
if [[ "$greeting" != "hello" ]]; then
    echo "error: received attribute greeting='$greeting', expected 'hello'" >&2
    exit 1
fi

echo "4. Deleting the message"
sqs delete-message --queue-url "$queue_url" --receipt-handle "$receipt_handle"

echo "5. Queue attributes"
sqs get-queue-attributes --queue-url "$queue_url" --attribute-names All

echo "6. Deleting queue $queue_name"
sqs delete-queue --queue-url "$queue_url"
queue_url=""

echo "Quickstart finished."
