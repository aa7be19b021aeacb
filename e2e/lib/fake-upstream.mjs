// A tiny OpenAI-compatible model server on loopback, so the E2E run never
// needs a real model provider. It answers:
//   GET  /v1/models             -> one model, "fake-model"
//   POST /v1/chat/completions   -> streamed (SSE) or plain JSON reply
// Non-streamed calls are the server's background tasks (title, tags,
// follow-ups); they get a JSON answer in the shape those tasks parse.
// Prompts steer the streamed reply: "COUNT" answers "Answer number N." (N
// counts such requests, so a regenerated answer differs), "SLOW" streams
// SLOW_PIECES words one every 250 ms (long enough to press Stop), "WEATHER"
// calls the `lookup_weather` tool when it is offered and answers with
// TOOL_REPLY once the result is back.
// The same port serves a small OpenAPI tool server: GET /openapi.json and
// GET /weather/{city}.
import http from 'node:http';

export const FAKE_MODEL = 'fake-model';
export const FAKE_REPLY = 'Hello there, this is a fake reply.';

const REPLY_PIECES = ['Hello', ' there', ',', ' this', ' is', ' a', ' fake', ' reply', '.'];
export const SLOW_PIECES = 80;
export const TOOL_REPLY = 'The weather tool says it is sunny.';

const TOOL_DOC = {
  openapi: '3.1.0',
  info: { title: 'E2E Weather', version: '1' },
  paths: {
    '/weather/{city}': {
      get: {
        operationId: 'lookup_weather',
        description: 'Current weather of a city',
        parameters: [{ name: 'city', in: 'path', required: true, schema: { type: 'string' } }]
      }
    }
  }
};
export const SLOW_LAST = `slowword${SLOW_PIECES}.`;

function lastUserText(body) {
  const msgs = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    const c = msgs[i]?.content;
    if (typeof c === 'string') return c;
    if (Array.isArray(c)) return c.map((p) => p?.text ?? '').join(' ');
  }
  return '';
}

function taskAnswer(text) {
  if (/follow[- ]?up/i.test(text)) return JSON.stringify({ follow_ups: ['Tell me more?'] });
  if (/\btags?\b/i.test(text)) return JSON.stringify({ tags: ['General'] });
  if (/\btitle\b/i.test(text)) {
    // Distinct titles let the tests find their chat in the sidebar.
    const title = /COUNT/.test(text) ? 'Counting Chat' : /SLOW/.test(text) ? 'Slow Chat' : 'Fake Title';
    return JSON.stringify({ title });
  }
  return FAKE_REPLY;
}

export async function startFakeUpstream({ log = () => {} } = {}) {
  const requests = [];
  let counted = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= 4 * 1024 * 1024) chunks.push(c);
    });
    req.on('end', async () => {
      let body = null;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : null;
      } catch {
        body = null;
      }
      const path = (req.url || '').split('?')[0];
      // the whole prompt as text, so tests can check what reached the model (RAG context)
      const promptText = Array.isArray(body?.messages)
        ? body.messages.map((m) => (typeof m?.content === 'string' ? m.content : JSON.stringify(m?.content ?? ''))).join('\n')
        : '';
      requests.push({ method: req.method, path, stream: body?.stream ?? null, promptText });
      log(`fake-upstream: ${req.method} ${req.url}`);

      if (req.method === 'GET' && path === '/openapi.json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(TOOL_DOC));
        return;
      }
      if (req.method === 'GET' && path.startsWith('/weather/')) {
        const city = decodeURIComponent(path.slice('/weather/'.length));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ city, sky: 'sunny', temperature_c: 21 }));
        return;
      }

      if (req.method === 'GET' && /\/models$/.test(path)) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            object: 'list',
            data: [{ id: FAKE_MODEL, object: 'model', created: 1700000000, owned_by: 'e2e' }]
          })
        );
        return;
      }

      if (req.method === 'POST' && /\/chat\/completions$/.test(path)) {
        const created = Math.floor(Date.now() / 1000);
        const model = body?.model || FAKE_MODEL;
        if (body?.stream) {
          res.writeHead(200, {
            'content-type': 'text/event-stream',
            'cache-control': 'no-cache',
            connection: 'keep-alive'
          });
          const chunk = (delta, finish = null, extra = {}) =>
            `data: ${JSON.stringify({
              id: 'chatcmpl-e2e',
              object: 'chat.completion.chunk',
              created,
              model,
              choices: [{ index: 0, delta, finish_reason: finish }],
              ...extra
            })}\n\n`;
          const prompt = lastUserText(body);
          const msgs = Array.isArray(body?.messages) ? body.messages : [];
          const offered = (body?.tools ?? []).some((t) => t?.function?.name === 'lookup_weather');
          if (offered && /WEATHER/.test(prompt) && msgs.at(-1)?.role !== 'tool') {
            res.write(chunk({ role: 'assistant', content: '' }));
            res.write(
              chunk({
                tool_calls: [
                  { index: 0, id: 'call_weather', type: 'function', function: { name: 'lookup_weather', arguments: '{"city": "Oslo"}' } }
                ]
              })
            );
            res.write(chunk({}, 'tool_calls'));
            res.end('data: [DONE]\n\n');
            return;
          }
          let pieces = REPLY_PIECES;
          let pause = 30;
          if (msgs.at(-1)?.role === 'tool') {
            pieces = TOOL_REPLY.split(/(?= )/);
          } else if (/COUNT/.test(prompt)) {
            counted += 1;
            pieces = ['Answer', ' number', ` ${counted}`, '.'];
          } else if (/SLOW/.test(prompt)) {
            pieces = Array.from({ length: SLOW_PIECES }, (_, i) => ` slowword${i + 1}${i + 1 === SLOW_PIECES ? '.' : ''}`);
            pause = 250;
          }
          for (let i = 0; i < pieces.length; i++) {
            if (res.destroyed || res.writableEnded) return;
            const delta = i === 0 ? { role: 'assistant', content: pieces[i] } : { content: pieces[i] };
            res.write(chunk(delta));
            await new Promise((r) => setTimeout(r, pause));
          }
          if (res.destroyed) return;
          res.write(
            chunk({}, 'stop', { usage: { prompt_tokens: 10, completion_tokens: 9, total_tokens: 19 } })
          );
          res.end('data: [DONE]\n\n');
          return;
        }
        const content = taskAnswer(lastUserText(body));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'chatcmpl-e2e',
            object: 'chat.completion',
            created,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 10, completion_tokens: 9, total_tokens: 19 }
          })
        );
        return;
      }

      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'not found' } }));
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/v1`,
    toolServerUrl: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      })
  };
}
