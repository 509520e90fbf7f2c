# mDNS browser for netns_test.go, run with Debian's python3-zeroconf: an
# implementation nobody on this project wrote. Prints one JSON line per event.
import json
import sys
import urllib.request

from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

SERVICE = "_spotify-connect._tcp.local."
# No proxy, whatever the environment says: the speaker is on our veth.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def emit(**kw):
    print(json.dumps(kw), flush=True)


class Listener(ServiceListener):
    def add_service(self, zc, type_, name):
        self.report("added", zc, type_, name)

    def update_service(self, zc, type_, name):
        self.report("updated", zc, type_, name)

    def remove_service(self, zc, type_, name):
        emit(event="removed", name=name)

    def report(self, event, zc, type_, name):
        info = zc.get_service_info(type_, name, timeout=3000)
        if info is None:
            emit(event=event + "-unresolved", name=name)
            return
        txt = {k.decode(): (v.decode() if v is not None else None) for k, v in info.properties.items()}
        # A and AAAA records (both arrive over the IPv4 transport).
        addrs = info.parsed_addresses(IPVersion.All)
        remote = {}
        for a in addrs:
            if a.startswith("fe80:"):
                continue  # link-local needs a zone the record cannot carry
            host = "[%s]" % a if ":" in a else a
            try:
                with opener.open("http://%s:%d/?action=getInfo" % (host, info.port), timeout=3) as r:
                    remote[a] = json.load(r).get("remoteName")
            except Exception as e:  # reported, the test decides
                remote[a] = "ERROR %s" % e
        emit(event=event, name=name, server=info.server, port=info.port, addresses=addrs, txt=txt, remoteNames=remote)


zc = Zeroconf(ip_version=IPVersion.V4Only)
ServiceBrowser(zc, SERVICE, Listener())
emit(event="browsing")
try:
    sys.stdin.read()  # run until the test closes our stdin
finally:
    zc.close()
