#!/bin/sh
# Sends one purge request to the trigger queue with your Entra identity (Service Bus REST API through `az rest`;
# no keys: the namespace has local auth disabled). azd gave the deploying user Data Sender on the trigger queue.
#
#   sh infra/scripts/send-test-message.sh OBJECT_ID [TYPE] [REASON]
#
# Namespace and queue come from the azd environment (SERVICE_BUS_ENDPOINT, PURGE_QUEUE_NAME) or from the
# environment variables of the same names. The message id is derived from the object id and the time.
set -eu

id=${1:?usage: send-test-message.sh OBJECT_ID [TYPE] [REASON]}
type=${2:-user}
reason=${3:-test from send-test-message.sh}

value() {
	eval "v=\${$1:-}"
	if [ -z "$v" ] && command -v azd >/dev/null 2>&1; then
		v=$(azd env get-value "$1" 2>/dev/null || true)
	fi
	printf %s "$v"
}
endpoint=$(value SERVICE_BUS_ENDPOINT)
queue=$(value PURGE_QUEUE_NAME)
if [ -z "$endpoint" ] || [ -z "$queue" ]; then
	echo "send-test-message.sh: SERVICE_BUS_ENDPOINT and PURGE_QUEUE_NAME are unknown (run azd provision first)" >&2
	exit 1
fi
endpoint=${endpoint%/}
who=$(az account show --query user.name -o tsv 2>/dev/null || echo unknown)
msgid="test-$id-$(date -u +%Y%m%dT%H%M%SZ)"

body=$(printf '{"id":"%s","type":"%s","reason":"%s","requestedBy":"%s","correlationId":"%s"}' "$id" "$type" "$reason" "$who" "$msgid")
echo "+ POST $endpoint/$queue/messages  $body"
az rest --method POST --uri "$endpoint/$queue/messages" \
	--resource "https://servicebus.azure.net" \
	--headers "Content-Type=application/json" "BrokerProperties={\"MessageId\":\"$msgid\",\"CorrelationId\":\"$msgid\"}" \
	--body "$body"
echo "sent (MessageId $msgid). Watch it: infra/README.md, \"See what happened\"."
