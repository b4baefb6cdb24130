-- Acting on survey answers: a customer who rates a case 1 or 2 of 5 is not
-- left there.  The team lead gets a mail at once with the score, the comment
-- and the agent, and the customer gets a follow-up in their language (en, ar,
-- fa: rules/templates/*/answer-followup.md) saying a lead will call back.  A
-- 3 to 5 sends nothing (the answer still counts in wafa report's CSAT, by
-- agent with --by agent and by queue with --by queue).
--
-- on_answer = function(t, a) runs once per answer to a survey mail of a ticket
-- the rule covers (its when), whichever rule sent the survey: a.score (1-5),
-- a.comment (nil when none), a.survey (the survey mail's template), a.rule
-- (the rule that sent it), a.at (when, Unix seconds), a.id (the survey
-- mail).  Needs [mail] templates and [web] (the survey's links).  Copy to
-- rules.d/, set the lead's address, and keep one survey rule (survey.lua and
-- customer-mail.lua send one too; on_answer can go on whichever you keep).

local LEAD = "lead@example.com"

local function who(t) return t.customer_name or t.customer_email end

followup "survey-answers" {
  since = "solved_at", after = "1d", once = true,
  when = function(t) return t.customer_email ~= nil end,
  on_due = function(t, s)
    mail { to = t.customer_email, template = "csat", survey = true,
           vars = { customer_name = who(t), ticket_ref = t.ref, ticket_subject = t.subject,
                    solved_date = wafa.date(t.solved_at, t) } }
  end,
  on_answer = function(t, a)
    if a.score > 2 then return end
    mail { to = LEAD,
           subject = string.format("Low score %d/5 on %s: %s", a.score, t.ref, t.subject),
           body = string.format("%s rated ticket %s %d of 5 at %s.\n\nComment: %s\n\n"
                                .. "Agent: %s\nQueue: %s\n\nA follow-up has gone to the "
                                .. "customer saying you will call back.\n",
                                who(t), t.ref, a.score, wafa.datetime(a.at),
                                a.comment or "(none)", t.owner_name or t.owner_email or "(none)",
                                t.queue or "(none)") }
    mail { to = t.customer_email, template = "answer-followup",
           vars = { customer_name = who(t), ticket_ref = t.ref, ticket_subject = t.subject } }
  end,
}
