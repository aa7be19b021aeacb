// A real OpenID Connect provider (the certified `oidc-provider` package) for
// the sign-in tests, on 127.0.0.1 only. Configured by environment:
//   OIDC_PORT, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI,
//   OIDC_ACCOUNTS (a JSON file, re-read on every sign-in:
//     {"<login>": {"password": "...", "sub": "...", "claims": {...}}}),
//   OIDC_ID_TOKEN_ALG (RS256 | ES256), OIDC_ACCESS_TTL (seconds),
//   OIDC_BACKCHANNEL_URI (optional).
// Its own login and consent pages are plain HTML forms. Test controls:
//   POST /test/next {"mode": "tamper"|"expire"|"audience"|"nonce"|"refuse-refresh"}
//     alters the next ID token (or refuses refresh grants until reset with null);
//   GET /test/stats      -> {"code": n, "refresh": n} token grants served;
//   GET /test/logout-token?sub=..[&aud=..] -> a signed back-channel logout token.
// Prints "ready <port>" once it listens.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const env = (name, fallback) => process.env[name] ?? fallback;
const port = Number(env('OIDC_PORT', '0'));
const issuer = `http://127.0.0.1:${port}`;
const clientId = env('OIDC_CLIENT_ID', 'owui');
const clientSecret = env('OIDC_CLIENT_SECRET', 'owui-secret-0123456789');
const redirectUri = env('OIDC_REDIRECT_URI', 'http://127.0.0.1/cb');
const accountsFile = env('OIDC_ACCOUNTS', '');
const idTokenAlg = env('OIDC_ID_TOKEN_ALG', 'RS256');
const accessTtl = Number(env('OIDC_ACCESS_TTL', '3600'));
const backchannelUri = env('OIDC_BACKCHANNEL_URI', '');

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keys = {
  'rsa-1': { key: rsa.privateKey, alg: 'RS256' },
  'ec-1': { key: ec.privateKey, alg: 'ES256' },
};
const jwks = {
  keys: [
    { ...rsa.privateKey.export({ format: 'jwk' }), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...ec.privateKey.export({ format: 'jwk' }), kid: 'ec-1', alg: 'ES256', use: 'sig' },
  ],
};

const accounts = () => JSON.parse(fs.readFileSync(accountsFile, 'utf8'));
const bySub = (sub) => Object.values(accounts()).find((a) => a.sub === sub);

let mode = null;
const stats = { code: 0, refresh: 0 };

const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const unb64u = (s) => JSON.parse(Buffer.from(s, 'base64url').toString());

function sign(header, payload) {
  const input = `${b64u(header)}.${b64u(payload)}`;
  const { key, alg } = keys[header.kid];
  const sig = alg === 'ES256'
    ? crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
    : crypto.sign('sha256', Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
}

function alter(jwt, how) {
  const [h, p, s] = jwt.split('.');
  const header = unb64u(h);
  const payload = unb64u(p);
  const now = Math.floor(Date.now() / 1000);
  switch (how) {
    case 'tamper':
      // a changed claim under the original signature
      return `${h}.${b64u({ ...payload, email: 'intruder@example.com' })}.${s}`;
    case 'expire':
      return sign(header, { ...payload, iat: now - 7200, exp: now - 3600 });
    case 'audience':
      return sign(header, { ...payload, aud: 'another-client' });
    case 'nonce':
      return sign(header, { ...payload, nonce: 'not-the-one-sent' });
    default:
      return jwt;
  }
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: idTokenAlg,
      ...(backchannelUri ? { backchannel_logout_uri: backchannelUri } : {}),
    },
  ],
  jwks,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'picture'],
    groups: ['groups', 'roles'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: Boolean(backchannelUri) },
  },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: { AccessToken: accessTtl, IdToken: 3600, Grant: 3600, Session: 3600, Interaction: 600 },
  cookies: { keys: ['oidc-test-cookie-key'] },
  pkce: { required: () => true },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (_ctx, sub) => {
    const account = bySub(sub);
    if (!account) return undefined;
    return { accountId: sub, claims: async () => ({ ...account.claims, sub }) };
  },
});

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || ctx.method !== 'POST' || ctx.status !== 200 || !ctx.body) return;
  const grant = ctx.oidc?.params?.grant_type;
  if (grant === 'refresh_token') {
    stats.refresh += 1;
    if (mode === 'refuse-refresh') {
      ctx.status = 400;
      ctx.body = { error: 'invalid_grant', error_description: 'refused by the test' };
    }
    return;
  }
  if (grant === 'authorization_code') {
    stats.code += 1;
    if (mode && mode !== 'refuse-refresh' && ctx.body.id_token) {
      ctx.body = { ...ctx.body, id_token: alter(ctx.body.id_token, mode) };
      mode = null;
    }
  }
});

const escape = (s) => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, action, fields, note = '') => `<!doctype html>
<html><head><title>${escape(title)}</title></head><body>
<h1>${escape(title)}</h1>${note ? `<p class="error">${escape(note)}</p>` : ''}
<form method="post" action="${escape(action)}">${fields}<button type="submit">Continue</button></form>
</body></html>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 65536) throw new Error('form too large');
  }
  return Object.fromEntries(new URLSearchParams(body));
}

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

const LOGIN_FIELDS = '<input name="login" autocomplete="username"><input name="password" type="password">';

async function interaction(req, res, url) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      return send(res, 200, 'text/html', page('Sign in', `/interaction/${uid}/login`, LOGIN_FIELDS));
    }
    return send(res, 200, 'text/html', page(`Allow ${params.client_id}?`, `/interaction/${uid}/confirm`, ''));
  }
  if (url.pathname.endsWith('/login')) {
    const form = await readForm(req);
    const account = accounts()[form.login];
    if (!account || account.password !== form.password) {
      return send(res, 200, 'text/html', page('Sign in', `/interaction/${uid}/login`, LOGIN_FIELDS, 'Wrong login or password'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
  }
  if (url.pathname.endsWith('/confirm')) {
    await readForm(req);
    const missing = prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return send(res, 404, 'text/plain', 'not found');
}

async function testControl(req, res, url) {
  if (url.pathname === '/test/next' && req.method === 'POST') {
    let body = '';
    for await (const chunk of req) body += chunk;
    mode = JSON.parse(body || '{}').mode ?? null;
    return send(res, 200, 'application/json', JSON.stringify({ mode }));
  }
  if (url.pathname === '/test/stats') {
    return send(res, 200, 'application/json', JSON.stringify(stats));
  }
  if (url.pathname === '/test/logout-token') {
    const now = Math.floor(Date.now() / 1000);
    const token = sign(
      { alg: 'RS256', kid: 'rsa-1', typ: 'logout+jwt' },
      {
        iss: issuer,
        aud: url.searchParams.get('aud') || clientId,
        iat: now,
        jti: crypto.randomUUID(),
        sub: url.searchParams.get('sub'),
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      },
    );
    return send(res, 200, 'text/plain', token);
  }
  return send(res, 404, 'text/plain', 'not found');
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  const route = url.pathname.startsWith('/interaction/')
    ? interaction
    : url.pathname.startsWith('/test/')
      ? testControl
      : null;
  if (!route) return callback(req, res);
  route(req, res, url).catch((err) => send(res, 500, 'text/plain', String(err?.message || err)));
});
server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${server.address().port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
