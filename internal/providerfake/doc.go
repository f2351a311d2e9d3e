// Package providerfake holds faithful fakes of the LLM provider APIs the
// shipped plugins speak (Anthropic's Messages API, Google's Gemini API),
// for tests only: the plugins' own tests and the chat pipeline's end-to-end
// tests use the same servers, so a fake is written once and every test
// runs against the same behaviour. Each follows the real API's routes,
// headers, JSON, SSE framing, errors and request rules; the model name
// picks a scenario. Serve one on loopback with plugintest.Loopback.
package providerfake
