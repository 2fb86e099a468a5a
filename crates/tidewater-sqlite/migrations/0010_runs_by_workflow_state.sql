-- How many runs each workflow has in each state (`GET /metrics`, on every scrape): one pass
-- over this index instead of over the runs table's rows, which carry params and a workflow
-- hash each (issue 18).
CREATE INDEX runs_by_workflow_state ON runs (workflow, state);
