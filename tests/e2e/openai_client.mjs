// End-to-end test with the official `openai` npm package as the client: starts
// `packinfer serve --port 0` on stories260K, reads the port it prints, runs completions, chat,
// streaming and error cases, then stops the server with SIGTERM and expects a clean exit.
//
// Environment: PACKINFER_CLI (the built binary), PACKINFER_MODEL (a GGUF file), OPENAI_PREFIX
// (the npm prefix where `openai` was installed; CTest installs it into the build tree).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const { PACKINFER_CLI: cli, PACKINFER_MODEL: model, OPENAI_PREFIX: prefix } = process.env;
if (!cli || !model || !prefix) {
  console.error('set PACKINFER_CLI, PACKINFER_MODEL and OPENAI_PREFIX');
  process.exit(2);
}
// The package lives in the build tree, not beside this script, so resolve it from there.
const require = createRequire(path.join(prefix, 'package.json'));
const mod = require('openai');
const OpenAI = mod.OpenAI ?? mod.default ?? mod;
const APIError = mod.APIError ?? OpenAI.APIError;

const API_KEY = 'e2e-key';
const server = spawn(cli, ['serve', '-m', model, '-t', '1', '--port', '0', '--api-key', API_KEY],
                     { stdio: ['ignore', 'inherit', 'pipe'] });
let serverLog = '';
const port = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`server did not start:\n${serverLog}`)), 30000);
  server.stderr.on('data', (d) => {
    serverLog += d;
    const m = serverLog.match(/serving \S+ on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) {
      clearTimeout(timer);
      resolve(Number(m[1]));
    }
  });
  server.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${serverLog}`)));
});

const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: API_KEY, maxRetries: 0 });
const MODEL = 'stories260K';
let failures = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e.stack ?? e}`);
  }
}

async function expectApiError(promise, status, code) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof APIError, `expected an APIError, got ${e}`);
    assert.equal(e.status, status, e.message);
    if (code) assert.equal(e.code, code, e.message);
    assert.equal(e.type, 'invalid_request_error');
    return;
  }
  assert.fail(`expected HTTP ${status}`);
}

await check('models.list', async () => {
  const models = await client.models.list();
  assert.equal(models.data[0].id, 'stories260K-f32');
});

// Greedy decoding after "Once upon a time" goes on with llama2.c's greedy story from BOS
// (expected_greedy_200.txt beside stories260K, see shared/models/SOURCES.md); these are its 20
// tokens after the prompt's 4.
const STORY_AFTER_PROMPT = ', there was a little girl named Lily. She loved to play outsid';
const story = readFileSync(path.join(path.dirname(model), 'expected_greedy_200.txt'), 'utf8');

let completionText;
await check('completions.create', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: 'Once upon a time',
                                             max_tokens: 20, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.ok(r.choices[0].text.length > 0);
  assert.ok(story.startsWith('Once upon a time' + STORY_AFTER_PROMPT));
  assert.equal(r.choices[0].text, STORY_AFTER_PROMPT);
  assert.equal(r.usage.prompt_tokens, 5);  // BOS + 4
  assert.equal(r.usage.completion_tokens, 20);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 20);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, 'number');
  assert.equal(r.usage.prompt_tokens_details.cached_tokens, 0);  // the server's first prompt
  completionText = r.choices[0].text;
});

await check('completions stream', async () => {
  const stream = await client.completions.create({ model: MODEL, prompt: 'Once upon a time',
                                                  max_tokens: 20, temperature: 0, stream: true });
  let text = '', chunks = 0, finish = null;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.ok(chunks > 3, `only ${chunks} chunks`);
  assert.equal(text, completionText);
  assert.equal(finish, 'length');
});

let chatText, chatTokens;
const messages = [{ role: 'system', content: 'You tell stories.' },
                  { role: 'user', content: 'Tell me a story.' }];
await check('chat.completions.create', async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 16,
                                                  temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.choices[0].message.content.length > 0);
  chatText = r.choices[0].message.content;
  chatTokens = r.usage.completion_tokens;
});

await check('chat stream with usage', async () => {
  const stream = await client.chat.completions.create({
    model: MODEL, messages, max_tokens: 16, temperature: 0, stream: true,
    stream_options: { include_usage: true } });
  let text = '', usage = null, role = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const delta = chunk.choices[0]?.delta;
    role = delta?.role ?? role;
    text += delta?.content ?? '';
  }
  assert.equal(role, 'assistant');
  assert.equal(text, chatText);
  assert.ok(usage && usage.completion_tokens > 0, JSON.stringify(usage));
  assert.equal(usage.completion_tokens, chatTokens);
});

await check('chat n=2 with logprobs', async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 6, n: 2,
                                                  seed: 3, logprobs: true, top_logprobs: 2 });
  assert.equal(r.choices.length, 2);
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  assert.equal(r.choices[0].logprobs.content[0].top_logprobs.length, 2);
});

await check('chat with response_format json_schema', async () => {
  const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 8 },
                   age: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['name', 'age'] };
  const r = await client.chat.completions.create({
    model: MODEL, messages, max_tokens: 64, seed: 5,
    response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } } });
  const text = r.choices[0].message.content;
  if (r.choices[0].finish_reason === 'stop') {
    const v = JSON.parse(text);
    assert.deepEqual(Object.keys(v), ['name', 'age']);
    assert.ok(typeof v.name === 'string' && v.name.length <= 8, text);
    assert.ok(Number.isInteger(v.age) && v.age >= 1 && v.age <= 9, text);
  } else {
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.ok(text.startsWith('{"name": "'), text);
  }
});

await check('response_format with an unsupported keyword -> 400', () =>
  expectApiError(client.chat.completions.create({
    model: MODEL, messages,
    response_format: { type: 'json_schema',
                       json_schema: { name: 'x', schema: { type: 'string', pattern: 'a+' } } } }),
  400));

await check('unknown model -> 404 model_not_found', () =>
  expectApiError(client.completions.create({ model: 'gpt-4o', prompt: 'x' }), 404,
                 'model_not_found'));
await check('negative max_tokens -> 400', () =>
  expectApiError(client.completions.create({ model: MODEL, prompt: 'x', max_tokens: -1 }), 400));
await check('empty messages -> 400', () =>
  expectApiError(client.chat.completions.create({ model: MODEL, messages: [] }), 400));
await check('n above the limit -> 400', () =>
  expectApiError(client.completions.create({ model: MODEL, prompt: 'x', n: 100 }), 400));
await check('wrong API key -> 401', async () => {
  const bad = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await expectApiError(bad.models.list(), 401, 'invalid_api_key');
});
await check('still serving after the errors', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: 'Once upon a time',
                                             max_tokens: 20, temperature: 0 });
  assert.equal(r.choices[0].text, completionText);
});

const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
server.kill('SIGTERM');
const { code, signal } = await exited;
await check('server exits cleanly on SIGTERM', async () => assert.equal(code, 0, `signal ${signal}`));

console.log(failures === 0 ? 'all passed' : `${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
