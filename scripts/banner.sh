#!/usr/bin/env bash
port=${1:-5005}
cat <<MSG

Voltmart assistant is running (Rasa on 127.0.0.1:$port, actions on :5055, Redis on :6390).

Ask the same question as two demo users in different segments:
  curl -s localhost:$port/webhooks/rest/webhook -H 'Content-Type: application/json' \\
       -d '{"sender": "user_bargain", "message": "can you recommend a phone?"}'
  curl -s localhost:$port/webhooks/rest/webhook -H 'Content-Type: application/json' \\
       -d '{"sender": "user_enthusiast", "message": "can you recommend a phone?"}'

Demo users: user_frequent, user_bargain, user_enthusiast, user_casual, user_newcomer
(any other sender id gets the default persona).
Chat in the terminal:  make shell SENDER=user_bargain
Stop everything:       make stop        Logs: var/log/

MSG
