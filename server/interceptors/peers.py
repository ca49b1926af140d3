"""Which gRPC peers are edges: the peers trusted to speak for a client (x-forwarded-for) and to report the edge's
own figures. ASTRA_TRUSTED_PROXIES names them; the edge of `astra serve` calls through the in-process channel
and is always one."""

from __future__ import annotations

import ipaddress

from server.local_channel import PEER as IN_PROCESS_PEER


def peer_address(peer: str) -> str:
    """The IP of a gRPC peer ("ipv4:10.0.0.7:53412", "ipv6:[::1]:53412"), without the port that changes per
    connection, so per-address limits see one caller as one address."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return peer


class TrustedPeers:
    def __init__(self, cidrs: tuple[str, ...]):
        self.networks = [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]
        self._verdicts: dict[str, bool] = {}  # per peer address: parsing it costs more than the rest of a call's check

    def __contains__(self, address: str) -> bool:
        """Whether `address` (a peer_address, or the in-process peer) is an edge."""
        verdict = self._verdicts.get(address)
        if verdict is None:
            if address == IN_PROCESS_PEER:
                verdict = True
            else:
                try:
                    ip = ipaddress.ip_address(address)
                    verdict = any(ip in network for network in self.networks)
                except ValueError:
                    verdict = False
            if len(self._verdicts) >= 4096:
                self._verdicts.clear()
            self._verdicts[address] = verdict
        return verdict
