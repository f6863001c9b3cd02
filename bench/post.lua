-- wrk: POST a small request (BODY, else a chat completion), with AUTH_TOKEN as the bearer token.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body = os.getenv("BODY")
if body and body ~= "" then
  wrk.body = body
else
  wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say ok"}]}'
end
local token = os.getenv("AUTH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
