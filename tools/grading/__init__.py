"""The course grader's parts, one job each (tools/grade.py is the command): what each video should
give (expectations), what a stack holds (reading), the rest of the story from CloudWatch and the
dead-letter queues (story), the bucket checks and per-video rows (checks), the report's typed shape
(records), and the table people read (report)."""
