# The API key the function checks (X-API-Key), in Secrets Manager. API Gateway reads the same
# header for its usage plan, so the secret holds the gateway key's value: one key per client
# passes both checks. The function reads it once per container (REBALANCER_API_KEY_SECRET_ID);
# the key is never a plain environment variable.

resource "aws_secretsmanager_secret" "api_key" {
  #checkov:skip=CKV2_AWS_57:The secret mirrors the API Gateway key; rotating it means issuing a new gateway key (aws_api_gateway_api_key), not a Lambda rotation.
  name                    = "${var.name}-api-key"
  description             = "X-API-Key the rebalance_portfolio function requires (= the default API Gateway key)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "api_key" {
  secret_id     = aws_secretsmanager_secret.api_key.id
  secret_string = jsonencode({ api_key = aws_api_gateway_api_key.default.value })
}
