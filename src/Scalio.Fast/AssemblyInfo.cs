namespace Scalio.Fast;
