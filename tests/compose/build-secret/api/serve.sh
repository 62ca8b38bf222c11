#!/bin/sh
# The page says the greeting it was built with, and whether the token came.
mkdir -p /www
{ cat /greeting.txt; [ -s "$TOKEN_FILE" ] && echo "token: present"; } >/www/index.html
exec httpd -f -p 8080 -h /www
