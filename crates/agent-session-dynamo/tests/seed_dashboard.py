"""What a dashboard written for the Python MinimalAgent's sessions does, with plain boto3.

Queries the reasoning records of one session newest first and prints, for each run, its
query, its steps and the tools each step called (name, inputs, result), reading every record
with ``json.loads(item["reasoning"])`` as the seed's documentation describes the table.
Records too large to be kept as plain JSON (``enc == "gzip"``) are decompressed first.

Usage: python seed_dashboard.py --endpoint http://127.0.0.1:8000 --table TABLE --session ID
(credentials and region from the usual AWS environment variables).
"""

import argparse
import gzip
import json

import boto3
from boto3.dynamodb.conditions import Key
from botocore.config import Config


def records(table, session_id):
    """Every reasoning record of the session, newest first (all pages)."""
    query = {
        "KeyConditionExpression": Key("pk").eq(f"reasoning#{session_id}"),
        "ScanIndexForward": False,
    }
    while True:
        page = table.query(**query)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def reasoning_of(item):
    """The reasoning dict of an item, as the seed's dashboards read it."""
    if item.get("enc") == "gzip":
        return json.loads(gzip.decompress(item["reasoning"].value))
    return json.loads(item["reasoning"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--session", required=True)
    args = parser.parse_args()
    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
    dynamodb = boto3.resource("dynamodb", endpoint_url=args.endpoint, config=config)
    table = dynamodb.Table(args.table)
    runs = 0
    for item in records(table, args.session):
        if "reasoning" not in item:
            continue  # a chunk of a record too large for one item
        reasoning = reasoning_of(item)
        runs += 1
        print(f"run {item['sk']}: query: {reasoning['query']}")
        print(f"  status: {reasoning.get('status', 'completed')}, steps: {reasoning['total_steps']}")
        for step in reasoning["steps"]:
            print(f"  step {step['step_number']} thinking: {step.get('thinking')}")
            for tool in step["tools"]:
                print(f"    tool: {tool['name']}")
                print(f"      inputs: {json.dumps(tool['inputs'], sort_keys=True)}")
                print(f"      result: {json.dumps(tool.get('result'), sort_keys=True)}")
        print(f"  response: {reasoning.get('final_response')}")
    print(f"{runs} runs")


if __name__ == "__main__":
    main()
