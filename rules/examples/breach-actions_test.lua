-- Tests for breach-actions.lua.

test "a breach raises the priority, hands the ticket over, notes why and tells on-call" {
  function(t)
    t.at "2026-03-02 10:00"
    local tk = t.ticket { subject = "Checkout down", priority = "high",
                          owner_email = "omar@example.com" }
    t.at "2026-03-02 13:59"
    t.expect_no_action()
    t.at "2026-03-02 14:00"
    t.expect { event = "breach", rule = "breach-actions", ticket = tk }
    t.expect_action { ticket = { priority = "urgent", owner = "backup@example.com" },
                      ticket_id = tk }
    t.expect_action { ticket = { note = t.contains "handed to backup@example.com",
                                 internal = "true" } }
    t.expect_action { ticket = { tags = { "sla-breached" } } }
    t.expect_action { webhook = "oncall", text = "SLA breached: #1 Checkout down "
                        .. "(now with backup@example.com)",
                      fields = { was_owner = "omar@example.com", priority = "high" } }
    t.expect_no_action()
  end,
}

test "a ticket answered in time changes nothing" {
  function(t)
    t.at "2026-03-02 10:00"
    local tk = t.ticket { priority = "urgent" }
    t.at "2026-03-02 10:30"
    t.reply(tk)
    t.wait "1d"
    t.expect_no_action()
  end,
}

test "an urgent ticket acts after an hour, a normal one after eight; a solved one never" {
  function(t)
    t.at "2026-03-02 10:00"
    local urgent = t.ticket { subject = "Outage", priority = "urgent" }
    local normal = t.ticket { subject = "Invoice" }
    local solved = t.ticket { subject = "Typo" }
    t.solve(solved)
    t.at "2026-03-02 11:00"
    t.expect_action { ticket_id = urgent, webhook = "oncall",
                      fields = { priority = "urgent", was_owner = "nobody" } }
    t.expect_action { ticket_id = urgent, ticket = { priority = "urgent" } }
    t.at "2026-03-02 17:59"
    t.expect_no_action { ticket_id = normal }
    t.at "2026-03-02 18:00"
    t.expect_action { ticket_id = normal, webhook = "oncall" }
    t.wait "2d"
    t.expect_no_action { ticket_id = solved }
  end,
}
