#!/usr/bin/env bash
# End to end: every bearer-token rejection over HTTP answers 401 with
# WWW-Authenticate: Bearer error="invalid_token"; role and org failures 403.
# Hostile tokens are forged here with openssl, independently of fiduciad.
source "$FIDUCIA_SRC/tests/harness/lib.sh"

fd_start auth --set jwt_leeway=0 || fd_finish
KEY="$DATA/keys/dev-issuer.pem"
PUB="$DATA/keys/dev-issuer.pub.pem"

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
claims() { # org role exp [iss] [aud] [nbf]
	printf '{"iss":"%s","aud":"%s","org":"%s","role":"%s","iat":%s,"nbf":%s,"exp":%s}' \
		"${4:-fiducia-dev}" "${5:-fiducia}" "$1" "$2" "$now" "${6:-$now}" "$3"
}

# expect401 WHAT TOKEN: 401, invalid_token header, Error body.
expect401() {
	local hdr
	hdr=$(curl -s -D - -o "$FD_TMP/b" "$URL/v1/whoami" -H "Authorization: Bearer $2" | tr -d '\r')
	STATUS=$(head -1 <<<"$hdr" | awk '{print $2}')
	BODY=$(cat "$FD_TMP/b")
	expect_status 401 "$1"
	if grep -qi '^WWW-Authenticate: Bearer .*error="invalid_token"' <<<"$hdr"; then
		ok "$1: WWW-Authenticate invalid_token"
	else
		fail "$1: no WWW-Authenticate invalid_token header"
	fi
}

GOOD=$(fd_token operator operator)
req GET /v1/whoami "$GOOD"; expect_status 200 "a good token"

STATUS=$(curl -s -D "$FD_TMP/h" -o /dev/null -w '%{http_code}' "$URL/v1/whoami")
expect_status 401 "no Authorization header"
check "missing token: invalid_token header" grep -qi 'error="invalid_token"' "$FD_TMP/h"
expect401 "not a JWT" "hello"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/whoami" -H "Authorization: Basic b3A6b3A=")
expect_status 401 "Basic scheme"
expect401 "two segments" "$(cut -d. -f1,2 <<<"$GOOD")"

# Bad signature: flip one character of the signature, and of the payload.
sig=$(cut -d. -f3 <<<"$GOOD")
flipped=$(cut -d. -f1,2 <<<"$GOOD").$( [ "${sig:5:1}" = A ] && echo "${sig:0:5}B${sig:6}" || echo "${sig:0:5}A${sig:6}")
expect401 "tampered signature" "$flipped"
h=$(cut -d. -f1 <<<"$GOOD")
evil_payload=$(claims operator operator $((now + 3600)) | b64url)
expect401 "tampered payload" "$h.$evil_payload.$sig"

# alg none.
none_h=$(printf '{"alg":"none","typ":"JWT"}' | b64url)
expect401 "alg none" "$none_h.$evil_payload."
# HS256 whose HMAC secret is the issuer's public key (the libjwt trap).
hs_h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
hs_sig=$(printf '%s' "$hs_h.$evil_payload" |
	openssl dgst -sha256 -mac HMAC -macopt hexkey:"$(xxd -p "$PUB" | tr -d '\n')" -binary | b64url)
expect401 "HS256 signed with the public key" "$hs_h.$evil_payload.$hs_sig"
# RS256 token for an ES256 issuer.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$FD_TMP/rsa.pem" 2>/dev/null
rs_h=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
rs_sig=$(printf '%s' "$rs_h.$evil_payload" | openssl dgst -sha256 -sign "$FD_TMP/rsa.pem" -binary | b64url)
expect401 "RS256 for an ES256 issuer" "$rs_h.$evil_payload.$rs_sig"

# Claims, signed by the real issuer key through the CLI.
expect401 "unknown issuer" "$("$FIDUCIA" token mint --key "$KEY" --issuer someone-else --org operator --role operator)"
expect401 "wrong audience" "$("$FIDUCIA" token mint --key "$KEY" --issuer fiducia-dev --aud other --org operator --role operator)"
SHORT=$("$FIDUCIA" token mint --data-dir "$DATA" --org operator --role operator --ttl 3s)
req GET /v1/whoami "$SHORT"; expect_status 200 "short-lived token works at first"
sleep 4.2
expect401 "expired token (also when cached)" "$SHORT"
# A token from a foreign ES256 key with the right issuer name.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$FD_TMP/ec.pem" 2>/dev/null
expect401 "signed by another key" "$("$FIDUCIA" token mint --key "$FD_TMP/ec.pem" --issuer fiducia-dev --org operator --role operator)"

# ES256 signed by openssl itself (JWS wants raw R||S, not DER): proves
# interoperability with other JWT implementations, and lets us forge claims.
es256() { # KEY: signs stdin, prints the base64url JWS signature
	local hex r s rl sl
	hex=$(openssl dgst -sha256 -sign "$1" -binary | xxd -p | tr -d '\n')
	hex=${hex:4}                       # SEQUENCE tag + length (short form)
	rl=$((16#${hex:2:2})); r=${hex:4:rl*2}; hex=${hex:4+rl*2}
	sl=$((16#${hex:2:2})); s=${hex:4:sl*2}
	# to 32 bytes each: left-pad first (one time in 256 an INTEGER is shorter, and
	# ${x: -64} of a shorter string is empty), then drop DER's leading 00
	r=$(printf '%64s' "$r" | tr ' ' 0); s=$(printf '%64s' "$s" | tr ' ' 0)
	r=${r: -64}; s=${s: -64}
	printf '%s%s' "$r" "$s" | xxd -r -p | b64url
}
es_h=$(printf '{"alg":"ES256","typ":"JWT"}' | b64url)
forge() { local p; p=$(printf '%s' "$1" | b64url); echo "$es_h.$p.$(printf '%s' "$es_h.$p" | es256 "$KEY")"; }
req GET /v1/whoami "$(forge "$(claims operator regulator $((now + 600)))")"
expect_status 200 "an ES256 token signed by openssl is accepted"
expect_json .role regulator "its claims are read"
expect401 "not yet valid (nbf in the future)" "$(forge "$(claims operator operator $((now + 7200)) fiducia-dev fiducia $((now + 3600)))")"
expect401 "exp missing" "$(forge '{"iss":"fiducia-dev","aud":"fiducia","org":"operator","role":"operator"}')"
expect401 "org missing" "$(forge "{\"iss\":\"fiducia-dev\",\"aud\":\"fiducia\",\"role\":\"operator\",\"exp\":$((now + 600))}")"
expect401 "unknown role" "$(forge "$(claims operator superuser $((now + 600)))")"
expect401 "audience array without ours" "$(forge "{\"iss\":\"fiducia-dev\",\"aud\":[\"a\",\"b\"],\"org\":\"operator\",\"role\":\"operator\",\"exp\":$((now + 600))}")"
req GET /v1/whoami "$(forge "{\"iss\":\"fiducia-dev\",\"aud\":[\"a\",\"fiducia\"],\"org\":\"operator\",\"role\":\"operator\",\"exp\":$((now + 600))}")"
expect_status 200 "audience array with ours"

# Roles and orgs: 403.
req POST /v1/orgs/operator/disable "$(fd_token operator user)"; expect_status 403 "role user may not disable"
req POST /v1/orgs "" '{"name":"x","kind":"HOLDER"}'; expect_status 401 "a write without a token"
req GET /v1/orgs "" "" -H "Authorization: Bearer "; expect_status 401 "empty bearer"

fd_finish
