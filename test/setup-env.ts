// The AWS SDK's multi-line Node version notice, once per test worker, says nothing a test checks.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
