namespace Scalio.Ycsb;
