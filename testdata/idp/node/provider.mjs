// A real OpenID Provider for tvm's tests: panva's oidc-provider (OpenID
// Certified), on 127.0.0.1, with no network. cmd/tvm's idp_test.go starts
// it with node, reads one JSON line from stdout ({"issuer": ...}), drives
// the authorization code flow over HTTP, and writes commands on stdin.
//
// Accounts (the login_hint of the authorization request picks one):
//   alice: groups [writers], bob: groups [readers], carol: no groups.
// Clients (client_secret_post, redirect http://127.0.0.1/cb):
//   tvm-web (secret tvm-web-secret), other-app (secret other-app-secret).
// Scopes: openid, groups; ID tokens carry the groups claim
// (conformIdTokenClaims: false).
//
// stdin commands, one per line, each answered by one JSON line on stdout:
//   rotate  -> a fresh provider instance on the same port, signing with a
//              new RSA key; the key set publishes only the new key.
//   quit    -> exit 0.
// The interaction (login and consent) is finished programmatically with
// the provider's own interactionFinished API: no browser, no form.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';
import readline from 'node:readline';
import Provider from 'oidc-provider';

const accounts = {
  alice: { groups: ['writers'] },
  bob: { groups: ['readers'] },
  carol: { groups: [] },
};

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: `rsa-${randomUUID()}`, use: 'sig', alg: 'RS256' };
}

function newProvider(issuer, key) {
  const provider = new Provider(issuer, {
    clients: [
      { client_id: 'tvm-web', client_secret: 'tvm-web-secret', redirect_uris: ['http://127.0.0.1/cb'],
        grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' },
      { client_id: 'other-app', client_secret: 'other-app-secret', redirect_uris: ['http://127.0.0.1/cb'],
        grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' },
    ],
    jwks: { keys: [key] },
    scopes: ['openid', 'groups'],
    claims: { openid: ['sub'], groups: ['groups'] },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { IdToken: 600, AccessToken: 600, Interaction: 600, Session: 600, Grant: 600, AuthorizationCode: 60 },
    async findAccount(_ctx, id) {
      if (!accounts[id]) return undefined;
      return { accountId: id, async claims() { return { sub: id, groups: accounts[id].groups }; } };
    },
  });
  provider.on('server_error', (_ctx, err) => process.stderr.write(`oidc-provider server_error: ${err.stack}\n`));
  return provider;
}

// interaction finishes the login (the account named by login_hint) or the
// consent (a grant of the requested scopes) of an interaction.
async function interaction(provider, req, res) {
  try {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params } = details;
    if (prompt.name === 'login') {
      const id = params.login_hint;
      if (!accounts[id]) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('unknown login_hint');
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: id } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    grant.addOIDCScope(String(params.scope));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  } catch (err) {
    process.stderr.write(`interaction: ${err.stack}\n`);
    res.writeHead(500, { 'content-type': 'text/plain' }).end('interaction failed');
  }
}

let current;
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(current, req, res);
    return;
  }
  current.callback()(req, res);
});

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  let key = signingKey();
  current = newProvider(issuer, key);
  const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
  say({ issuer, kid: key.kid });
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    switch (line.trim()) {
      case 'rotate':
        key = signingKey();
        current = newProvider(issuer, key);
        say({ rotated: true, kid: key.kid });
        break;
      case 'quit':
        server.close();
        process.exit(0);
        break;
      default:
        say({ error: `unknown command ${line}` });
    }
  });
  rl.on('close', () => process.exit(0));
});
