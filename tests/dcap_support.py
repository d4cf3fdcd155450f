"""The Intel vectors with collateral: quote, collateral, time and outcome (from expected.json /
PROVENANCE.md). Shared by the DCAP tests and the benchmark."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from elsewhere.evidence.dcap.collateral import Collateral, load_collateral


@dataclass(frozen=True)
class Case:
    id: str
    quote: str
    collateral: str
    at: str
    status: str | None  # None: no TCB level matches (Intel TCB_NOT_SUPPORTED)
    advisories: tuple[str, ...] = ()
    peer_refuses: str | None = None  # dcap-qvl's own policy, outside Intel's rules

    def when(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.at.replace("Z", "+00:00"))

    def quote_bytes(self, vectors: Path) -> bytes:
        data = (vectors / self.quote).read_bytes()
        return bytes.fromhex(data.decode()) if self.quote.endswith(".txt") else data

    def load(self, vectors: Path) -> Collateral:
        return load_collateral(vectors / self.collateral)


GCP = "tdx/automata-gcp-v4-00806f05/collateral_assembled.json"
GCP_IDS = ("INTEL-SA-00960", "INTEL-SA-00982", "INTEL-SA-00986")
SPR = "tdx/gotdx-v4-spr-50806f/collateral_assembled.json"
EMR = "tdx/dcapqvl-v5-90c06f-notcb/tdx_quote_outdated_collateral.json"
ICX = "sgx/automata-v3-00606a/collateral_assembled.json"
OCCLUM_IDS = tuple(f"INTEL-SA-00{n}" for n in (586, 614, 615, 657, 730, 738, 767, 828, 837, 960))

CASES = (
    Case("tdx/dcapqvl-v4-b0c06f", "tdx/dcapqvl-v4-b0c06f/tdx_quote.bin",
         "tdx/dcapqvl-v4-b0c06f/tdx_quote_collateral.json", "2025-07-19T10:00:34Z", "UpToDate"),
    Case("tdx/dcapqvl-v5-90c06f-notcb", "tdx/dcapqvl-v5-90c06f-notcb/tdx_quote_outdated.bin",
         EMR, "2026-02-20T00:00:00Z", None),
    Case("tdx/dcapqvl-near-v4-20a06f", "tdx/dcapqvl-near-v4-20a06f/quote_hex.txt",
         "tdx/dcapqvl-near-v4-20a06f/quote_collateral.json", "2025-09-10T00:00:00Z", "UpToDate"),
    Case("tdx/gotdx-v4-spr-50806f", "tdx/gotdx-v4-spr-50806f/tdx_prod_quote_SPR_E4.dat", SPR,
         "2023-07-01T01:00:00Z", None),
    Case("tdx/gotdx-v5-90c06f", "tdx/gotdx-v5-90c06f/quote_v5_sample.dat", EMR,
         "2026-02-20T00:00:00Z", "UpToDate"),
    Case("tdx/automata-gcp-v4-00806f05", "tdx/automata-gcp-v4-00806f05/quote_v4_gcp.bin", GCP,
         "2025-06-05T03:45:00Z", "OutOfDate", GCP_IDS),
    Case("tdx/trustee-quote4-v4-50806f-debug", "tdx/trustee/tdx_quote_4.dat", SPR,
         "2023-07-01T01:00:00Z", "UpToDate", (), "Debug mode is enabled"),
    Case("tdx/trustee-quote5-v5-90c06f", "tdx/trustee/tdx_quote_5.dat", EMR,
         "2026-02-20T00:00:00Z", None),
    Case("sgx/dcapqvl-v3-00a067", "sgx/dcapqvl-v3-00a067/sgx_quote.bin",
         "sgx/dcapqvl-v3-00a067/sgx_quote_collateral.json", "2025-07-19T10:01:17Z",
         "ConfigurationAndSWHardeningNeeded", ("INTEL-SA-00289", "INTEL-SA-00615")),
    Case("sgx/automata-v3-00606a", "sgx/automata-v3-00606a/quote_v3.bin", ICX,
         "2025-08-15T05:45:00Z", "SWHardeningNeeded", ("INTEL-SA-00615",)),
    Case("sgx/trustee-occlum-v3-00606a-debug",
         "sgx/trustee-occlum-v3-00606a-debug/occlum_quote.dat", ICX,
         "2025-08-15T05:45:00Z", "OutOfDate", OCCLUM_IDS, "Debug mode is enabled"),
)  # fmt: skip

# Expected outcome withheld by the vectors: what Intel's rules give is asserted in
# test_dcap_verify.py and reported, with the reasoning, in docs/evidence-intel.md.
UNLABELLED = (
    Case("unlabelled/gotdx-cos113-gcp-v4-00806f05",
         "unlabelled/gotdx-cos113-gcp-v4-00806f05/cos-113-tdx-quote.dat", GCP,
         "2025-06-05T03:45:00Z", "UpToDate"),
    Case("unlabelled/trustee-azure-tdx-v4-00806f05",
         "unlabelled/trustee-azure-tdx-v4-00806f05/td-quote.bin", GCP, "2025-06-05T03:45:00Z",
         "OutOfDate", GCP_IDS, "SEPT_VE_DISABLE is not enabled"),
)  # fmt: skip
