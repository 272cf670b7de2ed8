"""Load generator: N concurrent signed slash commands to an app; prints each ack latency (ms).

    python bench/slash_burst.py APP_URL SIGNING_SECRET N [CHANNEL] [USER]

Runs in its own process so the figures do not include the measured app's GIL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def send(app_url: str, secret: str, index: int, channel: str, user: str) -> float:
    body = urllib.parse.urlencode(
        {
            "token": "unused",
            "team_id": "T0SANDBOX",
            "team_domain": "sandbox",
            "channel_id": channel,
            "channel_name": "team",
            "user_id": user,
            "user_name": "lead",
            "command": "/prioritize",
            "text": "",
            "api_app_id": "A0COPILOT",
            "response_url": f"http://127.0.0.1:9/response/bench-{index}",
            "trigger_id": f"bench.{index}",
        }
    ).encode()
    timestamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    request = urllib.request.Request(
        app_url,
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": "v0=" + signature.hexdigest(),
        },
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
        assert response.status == 200
    return (time.perf_counter() - started) * 1000


def main() -> int:
    app_url, secret, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    channel = sys.argv[4] if len(sys.argv) > 4 else "C0TEAM"
    user = sys.argv[5] if len(sys.argv) > 5 else "U0LEAD"
    with ThreadPoolExecutor(max_workers=n) as pool:
        latencies = list(pool.map(lambda i: send(app_url, secret, i, channel, user), range(n)))
    print(json.dumps(latencies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
