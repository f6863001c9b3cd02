-- wrk: POST a small chat completion request, with AUTH_TOKEN as the bearer token.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say ok"}]}'
local token = os.getenv("AUTH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
