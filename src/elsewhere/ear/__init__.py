"""EAT Attestation Results (draft-ietf-rats-ear-04): the signed result of one attest decision.

`appraisal` turns verified claims and the policy's verdict into an AR4SI trustworthiness vector
and a status, `result` builds and checks the claims set, `jws` signs and verifies it as an
ES256 JWT with joserfc. No database, no control plane: the host, a relying party and the
`elsewhere ear` command use it alike.
"""
