-- wafa.promise_in(text, t): the instant an agent's sentence promises, or nil.
-- (rule library; receives the `wafa` table to fill and wafa's C helpers)
local wafa, c = ...

function wafa.promise_in(text, t)
  return nil
end
