#!/usr/bin/env bash
# What `make run` started and how to try it, with each demo user's segment and why.
port=${1:-5005}
gateway=${2:-8080}
root=$(cd "$(dirname "$0")/.." && pwd)
# Which segment of the published model each demo user is in, and the top features behind it.
segments=$("$root/.venv/bin/voltmart-demo-segments" --describe 2>&1) ||
  segments="  (not available: $segments)"
cat <<MSG

Voltmart assistant is running:
  web chat        http://127.0.0.1:$gateway/   (pick a persona, sign in, chat)
  gateway API     http://127.0.0.1:$gateway/openapi.json   (auth, rate limits, metrics)
  Rasa            127.0.0.1:$port (loopback only), actions :5055, Redis :6390, feature worker

Ask the same question as two demo users in different segments (straight to Rasa):
  curl -s localhost:$port/webhooks/rest/webhook -H 'Content-Type: application/json' \\
       -d '{"sender": "user_bargain", "message": "can you recommend a phone?"}'
  curl -s localhost:$port/webhooks/rest/webhook -H 'Content-Type: application/json' \\
       -d '{"sender": "user_enthusiast", "message": "can you recommend a phone?"}'

Through the gateway (a demo token; the sender is the token's subject):
  TOKEN=\$(curl -s localhost:$gateway/demo/login -H 'Content-Type: application/json' \\
          -d '{"persona": "tech_enthusiast"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s localhost:$gateway/v1/chat -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -d '{"message": "any deals on laptops?"}'

Demo users: user_frequent, user_bargain, user_enthusiast, user_casual, user_newcomer
(they have consented to personalization; any other sender id is asked first and gets
the "no segment yet" answers until it says yes). Try "what do you know about me?" and "forget me".
Their segments were learned from a generated shop history of 3,000 shoppers (orders,
questions, times of day; report: var/segments/shop-history/latest/report.html):
$segments
Chat in the terminal:  make shell SENDER=user_bargain
Stop everything:       make stop        Logs: var/log/

MSG
