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
