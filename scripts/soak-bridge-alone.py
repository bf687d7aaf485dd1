#!/usr/bin/env python3
"""The bridge's own memory under IdP traffic, with Drupal's stand-in in another
process (docs/SOAK.md, "The bridge alone"). Start a stand-in with
`drupal-scim-bridge demo --listen 127.0.0.1:18080 --drupal-listen 127.0.0.1:18081
--token leak-test-token-0123456789`, a bridge with `drupal-scim-bridge serve` listening
on 127.0.0.1:18090 in front of it (same token, drupal admin/admin), then:

    scripts/soak-bridge-alone.py <bridge pid> <requests>

Four clients create, look up, deactivate and delete users; the bridge's VmRSS is
printed every tenth of the requests. Only 127.0.0.1 is used.
"""
import http.client, json, threading, time, sys, os
PID = int(sys.argv[1]); TOTAL = int(sys.argv[2])
H = {"Authorization": "Bearer leak-test-token-0123456789", "Content-Type": "application/scim+json"}
count = [0]; lock = threading.Lock(); stop = [False]
def rss():
    for l in open(f"/proc/{PID}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
def worker(w):
    c = http.client.HTTPConnection("127.0.0.1", 18090, timeout=10)
    i = 0
    while not stop[0]:
        i += 1; name = f"leak{w}x{i}"
        try:
            c.request("POST", "/scim/v2/Users", json.dumps({"userName": name, "emails": [{"value": f"{name}@example.org"}]}), H)
            r = c.getresponse(); body = json.loads(r.read() or b"{}"); uid = body.get("id")
            c.request("GET", f"/scim/v2/Users?filter=userName%20eq%20%22{name}%22", headers=H); c.getresponse().read()
            if uid:
                c.request("PATCH", f"/scim/v2/Users/{uid}", json.dumps({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":False}]}), H); c.getresponse().read()
                c.request("DELETE", f"/scim/v2/Users/{uid}", headers=H); c.getresponse().read()
        except Exception as e:
            c = http.client.HTTPConnection("127.0.0.1", 18090, timeout=10)
        with lock:
            count[0] += 4
ts = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
[t.start() for t in ts]
start = time.time(); nxt = 0
while count[0] < TOTAL:
    if count[0] >= nxt:
        print(f"{count[0]:>8} requests  {time.time()-start:6.1f}s  RSS {rss()} kB", flush=True); nxt += TOTAL // 10
    time.sleep(0.5)
stop[0] = True; [t.join() for t in ts]
print(f"{count[0]:>8} requests  {time.time()-start:6.1f}s  RSS {rss()} kB", flush=True)
