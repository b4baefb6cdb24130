-- First response: tell the owner (or the lead) when a ticket has waited
-- too long for its first reply.  Copy to rules.d/ and adjust.
sla "first-response" {
  start  = "created_at",
  stop   = "first_reply_at",
  target = { urgent = "1h", high = "4h", default = "8h" },
  when   = function(t) return t.status ~= "closed" and t.status ~= "solved" end,
  on_breach = function(t, s)
    mail {
      to      = t.owner_email or "support-lead@example.com",
      subject = "SLA breached: #" .. t.ref .. " " .. t.subject,
      body    = "Ticket #" .. t.ref .. " from " .. (t.customer_name or t.customer_email or "a customer")
             .. " has had no first reply for " .. s.target // 3600 .. " hours.\n",
    }
  end,
}
