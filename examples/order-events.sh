#!/usr/bin/env bash
# An order pipeline on Postroom, built with the aws CLI:
#   - an orders queue with a dead-letter queue;
#   - an order-events topic fanning out to inventory and email queues, each
#     subscription filtered on the event_type message attribute;
#   - a rule on a custom event bus routing OrderPlaced events to the
#     fulfillment and analytics queues.
# It publishes events in a common envelope (id, source, type, timestamp,
# version, data, metadata.correlation_id), shows where each one landed, and
# fails when one landed elsewhere.
#
# Usage: POSTROOM_ENDPOINT=http://127.0.0.1:4566 examples/order-events.sh
# Needs the aws CLI on PATH. Run it against a fresh server: it creates its
# resources under fixed names.
set -euo pipefail

endpoint="${POSTROOM_ENDPOINT:-http://127.0.0.1:4566}"
account=000000000000
region="${AWS_DEFAULT_REGION:-us-east-1}"

export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="$region"
export AWS_EC2_METADATA_DISABLED=true
export AWS_PAGER=""

aws_json() {
    aws --endpoint-url "$endpoint" --output json "$@"
}

queue_arn() {
    echo "arn:aws:sqs:$region:$account:$1"
}

# Builds an event in the common envelope.
envelope() {
    local type="$1" order_id="$2" correlation_id="$3"
    printf '{"id":"evt-%s","source":"shop.orders","type":"%s","timestamp":"2026-12-04T21:00:00Z","version":"1.0","data":{"order_id":"%s"},"metadata":{"correlation_id":"%s"}}' \
        "$order_id-$type" "$type" "$order_id" "$correlation_id"
}

echo "Endpoint: $endpoint"

echo "1. Queues: orders with orders-dlq, inventory, email, fulfillment, analytics"
for name in orders-dlq inventory email fulfillment analytics; do
    aws_json sqs create-queue --queue-name "$name" >/dev/null
done
orders_attributes="$(python3 -c '
import json, sys
policy = {"deadLetterTargetArn": sys.argv[1], "maxReceiveCount": "3"}
print(json.dumps({"RedrivePolicy": json.dumps(policy)}))' "$(queue_arn orders-dlq)")"
aws_json sqs create-queue --queue-name orders --attributes "$orders_attributes" >/dev/null

echo "2. Topic order-events, fanning out on event_type"
topic_arn="$(aws_json sns create-topic --name order-events --query TopicArn --output text)"
aws_json sns subscribe --topic-arn "$topic_arn" --protocol sqs --notification-endpoint "$(queue_arn inventory)" \
    --attributes '{"RawMessageDelivery":"true","FilterPolicy":"{\"event_type\":[\"OrderPlaced\",\"OrderCancelled\"]}"}' >/dev/null
aws_json sns subscribe --topic-arn "$topic_arn" --protocol sqs --notification-endpoint "$(queue_arn email)" \
    --attributes '{"RawMessageDelivery":"true","FilterPolicy":"{\"event_type\":[\"OrderShipped\"]}"}' >/dev/null

echo "3. Bus orders-bus with a rule routing OrderPlaced to fulfillment and analytics"
aws_json events create-event-bus --name orders-bus >/dev/null
aws_json events put-rule --name order-placed --event-bus-name orders-bus \
    --event-pattern '{"source":["shop.orders"],"detail":{"type":["OrderPlaced"]}}' >/dev/null
aws_json events put-targets --rule order-placed --event-bus-name orders-bus --targets \
    "Id=fulfillment,Arn=$(queue_arn fulfillment)" "Id=analytics,Arn=$(queue_arn analytics)" >/dev/null

echo "4. Publishing events"
for spec in "OrderPlaced ord_1 corr-1" "OrderShipped ord_2 corr-2" "OrderCancelled ord_3 corr-3"; do
    read -r type order_id correlation_id <<<"$spec"
    event="$(envelope "$type" "$order_id" "$correlation_id")"
    echo "   $type $order_id"
    aws_json sns publish --topic-arn "$topic_arn" --message "$event" \
        --message-attributes "{\"event_type\":{\"DataType\":\"String\",\"StringValue\":\"$type\"}}" >/dev/null
    entry="$(python3 -c 'import json,sys; print(json.dumps([{"EventBusName":"orders-bus","Source":"shop.orders","DetailType":sys.argv[1],"Detail":sys.argv[2]}]))' "$type" "$event")"
    aws_json events put-events --entries "$entry" >/dev/null
done
aws_json sqs send-message --queue-url "$endpoint/$account/orders" --message-body "$(envelope OrderPlaced ord_1 corr-1)" >/dev/null

echo "5. Where each event landed"
failures=0
# Receives until `count` messages arrived or a few seconds passed, and
# prints their order ids, sorted. The messages stay in flight.
landed() {
    local queue_url="$endpoint/$account/$1" count="$2" ids=""
    for _ in $(seq 10); do
        ids="$ids $(aws_json sqs receive-message --queue-url "$queue_url" --max-number-of-messages 10 \
            --wait-time-seconds 1 | python3 -c '
import json, sys
text = sys.stdin.read().strip()
for message in (json.loads(text).get("Messages", []) if text else []):
    body = json.loads(message["Body"])
    # EventBridge wraps the envelope in an event; raw SNS delivery does not.
    print(body.get("detail", body)["data"]["order_id"])
')"
        [[ "$(echo $ids | wc -w)" -ge "$count" ]] && break
    done
    echo $ids | tr ' ' '\n' | sort | xargs
}
expect() {
    local queue="$1" expected="$2" count actual
    count="$(echo "$expected" | wc -w)"
    actual="$(landed "$queue" "$count")"
    printf '   %-12s %s\n' "$queue" "${actual:-(nothing)}"
    if [[ "$actual" != "$expected" ]]; then
        echo "   error: expected $queue to hold: ${expected:-nothing}" >&2
        failures=$((failures + 1))
    fi
}
expect inventory "ord_1 ord_3"
expect email "ord_2"
expect fulfillment "ord_1"
expect analytics "ord_1"
expect orders "ord_1"

if [[ "$failures" -ne 0 ]]; then
    echo "Order events example failed: $failures queues held other events." >&2
    exit 1
fi
echo "Order events example finished."
