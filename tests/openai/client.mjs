// client.mjs — the official `openai` npm client against a running `lingua serve`.
// usage: node client.mjs BASE_URL API_KEY MODEL PROMPT N REF_TEXT
// Greedy completions (whole and streamed) must equal REF_TEXT (lingua generate's
// output); chat whole and streamed must agree; the model is listed; a wrong key
// and a wrong type come back as the client's typed errors.  Prints one line per
// check; exits 1 if any failed.
import OpenAI from "openai";

const [baseURL, apiKey, model, prompt, nText, ref] = process.argv.slice(2);
const n = Number(nText);
const client = new OpenAI({ baseURL, apiKey, timeout: 60000, maxRetries: 0 });
let failed = 0;
const check = (ok, what, detail) => {
  console.log(`${ok ? "ok" : "FAIL"} ${what}${ok ? "" : ": " + detail}`);
  if (!ok) failed++;
};

const c = await client.completions.create({ model, prompt, max_tokens: n, temperature: 0 });
check(c.choices[0].text === ref, "completion equals generate", JSON.stringify(c.choices[0].text));
check(c.usage.completion_tokens === n && c.choices[0].finish_reason === "length", "completion usage", JSON.stringify(c.usage));

let streamed = "";
let finish = null;
for await (const chunk of await client.completions.create({ model, prompt, max_tokens: n, temperature: 0, stream: true })) {
  streamed += chunk.choices[0]?.text ?? "";
  finish = chunk.choices[0]?.finish_reason ?? finish;
}
check(streamed === ref && finish === "length", "streamed completion equals generate", JSON.stringify(streamed));

const messages = [
  { role: "system", content: "You tell stories." },
  { role: "user", content: "Tell me about a dog." },
];
const whole = await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0 });
const content = whole.choices[0].message.content;
check(whole.choices[0].message.role === "assistant" && content.length > 0 && whole.usage.total_tokens > 0, "chat completion", JSON.stringify(whole));
let chatStreamed = "";
let usage = null;
for await (const chunk of await client.chat.completions.create({
  model, messages, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true },
})) {
  chatStreamed += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}
check(chatStreamed === content, "streamed chat equals whole", JSON.stringify(chatStreamed));
check(usage !== null && usage.completion_tokens === whole.usage.completion_tokens, "stream usage", JSON.stringify(usage));

const models = await client.models.list();
check(models.data.some((m) => m.id === model), "models list", JSON.stringify(models.data));

try {
  await new OpenAI({ baseURL, apiKey: "wrong", maxRetries: 0 }).completions.create({ model, prompt, max_tokens: 1 });
  check(false, "wrong key refused", "accepted");
} catch (e) {
  check(e instanceof OpenAI.AuthenticationError && e.status === 401, "wrong key refused", String(e));
}
try {
  await client.completions.create({ model, prompt, max_tokens: 1, temperature: "hot" });
  check(false, "wrong type refused", "accepted");
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && e.status === 400 && /temperature/.test(e.message), "wrong type refused", String(e));
}
try {
  await client.completions.create({ model: "no-such-model", prompt, max_tokens: 1 });
  check(false, "unknown model refused", "accepted");
} catch (e) {
  check(e instanceof OpenAI.NotFoundError && e.status === 404, "unknown model refused", String(e));
}
process.exit(failed ? 1 : 0);
