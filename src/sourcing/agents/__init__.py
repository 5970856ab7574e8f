"""The assistant: skills, LangChain tools, the tool-calling loop and the offline planner."""
